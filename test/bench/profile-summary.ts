/**
 * Sums a V8 CPU profile (`npm run bench -- --profile` writes one; so does `node --cpu-prof`) by
 * function and by file: the self time of each, and the inclusive time of the functions whose name
 * or file matches a pattern. The format is the DevTools protocol's `Profiler.Profile`
 * (https://chromedevtools.github.io/devtools-protocol/tot/Profiler/#type-Profile).
 *
 *   npx node test/bench/profile-summary.ts <file.cpuprofile> [--top 30] [--match 'src/|jose'] [--callers writeUtf8String]
 *
 * Percentages are of the main thread's sampled time, idle included; `per request` divides by
 * `--requests` when it is given (the bench prints how many requests each run served). `--callers`
 * shows, for the functions matching it, the stacks (four frames up) their self time was spent under.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: 'string', default: '30' },
    match: { type: 'string' },
    requests: { type: 'string' },
    callers: { type: 'string' },
  },
});
const file = positionals[0];
if (file === undefined) {
  console.error(
    'usage: npx node test/bench/profile-summary.ts <file.cpuprofile> [--top 30] [--match regex] [--requests n]',
  );
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const top = Number(flags.top);
const requests = flags.requests === undefined ? undefined : Number(flags.requests);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);

/** Sampled microseconds per node (the delta before a sample is the time it stands for). */
const sampled = new Map<number, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  sampled.set(id, (sampled.get(id) ?? 0) + dt);
  total += dt;
});

const fileOf = (url: string) =>
  url
    .replace(/^file:\/\/.*?\/node_modules\//, 'node_modules/')
    .replace(/^file:\/\/.*?\/(src|adapters|test|sandbox)\//, '$1/');
const nameOf = (n: ProfileNode) =>
  `${n.callFrame.functionName || '(anonymous)'} ${fileOf(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;

const selfByFunction = new Map<string, number>();
const selfByFile = new Map<string, number>();
const inclusive = new Map<string, number>();
const callerStacks = new Map<string, number>();
const callersOf = flags.callers === undefined ? undefined : new RegExp(flags.callers);
const add = (m: Map<string, number>, k: string, t: number) => m.set(k, (m.get(k) ?? 0) + t);
for (const [id, t] of sampled) {
  const node = byId.get(id)!;
  add(selfByFunction, nameOf(node), t);
  add(selfByFile, fileOf(node.callFrame.url) || node.callFrame.functionName, t);
  if (callersOf?.test(nameOf(node))) {
    const stack: string[] = [];
    for (let cur = parentOf.get(id); cur !== undefined && stack.length < 4; cur = parentOf.get(cur))
      stack.push(nameOf(byId.get(cur)!));
    add(callerStacks, `${nameOf(node)} ← ${stack.join(' ← ')}`, t);
  }
  // Each function counted once per stack, however often it recurses.
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parentOf.get(cur)) {
    const name = nameOf(byId.get(cur)!);
    if (!seen.has(name)) {
      seen.add(name);
      add(inclusive, name, t);
    }
  }
}

const line = (name: string, t: number) =>
  `${((100 * t) / total).toFixed(1).padStart(5)} %${requests ? `  ${(t / requests).toFixed(1).padStart(6)} µs/req` : ''}  ${name}`;
const print = (title: string, m: Map<string, number>, keep: (k: string) => boolean = () => true) => {
  console.log(`\n${title}`);
  for (const [k, t] of [...m]
    .filter(([k]) => keep(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top))
    console.log(line(k, t));
};

console.log(`${(total / 1e6).toFixed(2)} s sampled on the main thread${requests ? `, ${requests} requests` : ''}`);
print('self time by function', selfByFunction);
print('self time by file', selfByFile);
if (callersOf) print(`stacks under functions matching /${flags.callers}/`, callerStacks);
if (flags.match !== undefined) {
  const re = new RegExp(flags.match);
  print(`inclusive time of functions matching /${flags.match}/`, inclusive, (k) => re.test(k));
}
