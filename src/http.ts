/** RFC 6749 §5.1: token and error responses must not be cached. One definition for every runtime entry. */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;

/**
 * A JSON answer that must not be cached (RFC 6749 §5.1), with its headers as a plain record. Every
 * runtime takes a record as headers; @hono/node-server then writes the answer without building a
 * `Headers` object for it and iterating it again to write the head (the decision routes' profile in
 * docs/performance.md), which Hono's `c.json` with more than one header does.
 */
export function noStoreJson(body: unknown, status: number, headers: Readonly<Record<string, string>>): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...NO_STORE, ...headers },
  });
}
