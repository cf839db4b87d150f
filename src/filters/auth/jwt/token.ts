// What is read from a token before its signature is checked: only the
// protected header's alg and kid, to pick a key. Nothing else in the header
// is trusted or used: jku, x5u, jwk and x5c are never fetched or read, and kid
// is only ever a key into the provider's own Map (a path or an injection
// string simply finds nothing).

/** Longest token looked at (bytes of the compact form). */
export const MAX_TOKEN_LENGTH = 16 * 1024;

export interface TokenHeader {
  readonly alg: string;
  readonly kid: string | undefined;
}

/** The header of a compact JWS, or a reason it is not one. */
export function readHeader(token: string): TokenHeader | string {
  const dot = token.indexOf('.');
  if (dot <= 0 || token.indexOf('.', dot + 1) === -1 || token.split('.').length !== 3) return 'malformed token';
  let h: unknown;
  try {
    h = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8'));
  } catch {
    return 'malformed token header';
  }
  if (h === null || typeof h !== 'object' || Array.isArray(h)) return 'malformed token header';
  const { alg, kid } = h as { alg?: unknown; kid?: unknown };
  if (typeof alg !== 'string' || alg === '') return 'token header has no alg';
  if (kid !== undefined && typeof kid !== 'string') return 'token header kid is not a string';
  return { alg, kid };
}

/** Strings of a claim: "a b c" split on spaces, or an array's strings. */
export function stringList(v: unknown, split: boolean): string[] {
  if (typeof v === 'string') return split ? v.split(' ').filter((s) => s !== '') : v === '' ? [] : [v];
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '');
  return [];
}
