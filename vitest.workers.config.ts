/**
 * The Workers test project: test/workers/*.test.ts run inside workerd (the Worker of wrangler.toml,
 * with its Durable Objects) through @cloudflare/vitest-plugin; the emulators run in Node, started by
 * the global setup, which hands the Worker its bindings. `npm run test:workers`.
 */
import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

// The network is closed and tests must not phone home: no wrangler metrics, no Request.cf download.
process.env.WRANGLER_SEND_METRICS = 'false';
process.env.CLOUDFLARE_CF_FETCH_ENABLED = 'false';

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: './wrangler.toml' },
      // wrangler.toml's no_nodejs_compat applies here too; vitest then probes node:inspector in vain
      // ("Fallback service failed to fetch module … node:inspector", harmless). The plugin still lends
      // its runner some Node built-ins, so the proof that the Worker needs none is the bundle check
      // and the wrangler dev smoke test, not this project.
      miniflare: { bindings: inject('workerBindings') },
    })),
  ],
  test: {
    include: ['test/workers/**/*.test.ts'],
    globalSetup: ['./test/workers/harness/global-setup.ts'],
    // One file at a time: the files share the emulators, whose fault queue is global.
    fileParallelism: false,
    silent: 'passed-only',
    testTimeout: 20_000,
    hookTimeout: 30_000,
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
