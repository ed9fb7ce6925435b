import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The n8n node's tests load n8n-workflow as n8n does, as CommonJS: its ESM build uses extensionless
  // imports that only a bundler resolves. It lives in the test/support/n8n-runtime workspace's own
  // node_modules (peer zod@3); the node package's build tooling is not installed by the root.
  // The Bedrock example imports the AWS client package by its published name: here, its source.
  resolve: {
    alias: [
      {
        find: /^n8n-workflow$/,
        replacement: fileURLToPath(
          new URL('./test/support/n8n-runtime/node_modules/n8n-workflow/dist/cjs/index.js', import.meta.url),
        ),
      },
      {
        find: /^@agent-id-bridge\/aws$/,
        replacement: fileURLToPath(new URL('./adapters/aws/client/src/index.ts', import.meta.url)),
      },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/workers/**', '**/node_modules/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Servers listen on loopback only; keep files isolated so emulators and env changes never leak.
    pool: 'forks',
    setupFiles: ['./test/support/loopback-only.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
