/** The part of autocannon's API (https://github.com/mcollina/autocannon#api) that ./bench.ts uses; the package ships no types. */
declare module 'autocannon' {
  interface Histogram {
    average: number;
    p50: number;
    p99: number;
  }
  interface Result {
    latency: Histogram;
    requests: Histogram;
    '2xx': number;
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
  }
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    /** Milliseconds between samples; a run that ends by `amount` ends at the next sample. */
    sampleInt?: number;
    requests?: Record<string, unknown>[];
  }
  export default function autocannon(opts: Options): Promise<Result>;
}
