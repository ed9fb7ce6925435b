/** The exchange core now lives in its package, adapters/client (docs/clients.md); kept for server-side imports. */
export * from '../../adapters/client/src/index.ts';
