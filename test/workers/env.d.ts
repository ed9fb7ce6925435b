// Types of `env` and `exports` from "cloudflare:workers" in the Workers tests: the Worker's own
// WorkerEnv (src/worker.ts) is the one source of binding types.
declare namespace Cloudflare {
  type BridgeWorkerEnv = import('../../src/worker.ts').WorkerEnv;
  interface Env extends BridgeWorkerEnv {}
  interface GlobalProps {
    mainModule: typeof import('../../src/worker.ts');
    durableNamespaces: 'ReplayGuard' | 'RateLimitCounter' | 'KillSwitch';
  }
}
