/** RFC 6749 §5.1: token and error responses must not be cached. One definition for every runtime entry. */
export const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' } as const;
