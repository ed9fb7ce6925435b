/** The GCP client now lives in its package, adapters/gcp/client (docs/clients.md); kept for server-side imports. */
export * from './client/src/index.ts';
