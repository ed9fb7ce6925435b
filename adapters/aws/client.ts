/** The AWS client now lives in its package, adapters/aws/client (docs/clients.md); kept for server-side imports. */
export * from './client/src/index.ts';
