import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/workers/**', 'node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Servers listen on loopback only; keep files isolated so emulators and env changes never leak.
    pool: 'forks',
    setupFiles: ['./test/support/loopback-only.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
