/** Reads Prometheus text exposition (format 0.0.4) for tests: one sample by name and exact labels. */

export type Samples = Map<string, number>;

const key = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;

export function parseSamples(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = JSON.parse(`"${l[2]}"`) as string;
    samples.set(key(m[1]!, labels), Number(m[3]));
  }
  return samples;
}

/** The sample's value, 0 when the series is absent (a counter never incremented). */
export function sample(samples: Samples, name: string, labels: Record<string, string> = {}): number {
  return samples.get(key(name, labels)) ?? 0;
}

export async function scrape(url: string): Promise<{ text: string; samples: Samples; contentType: string | null }> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  const text = await res.text();
  return { text, samples: parseSamples(text), contentType: res.headers.get('content-type') };
}
