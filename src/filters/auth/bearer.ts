// RFC 6750 Bearer tokens: where they are read and how a refusal is told.
import type { RequestContext } from '../../pipeline/context.js';

/** The token of a `Bearer <token>` value (scheme case-insensitive, RFC 9110 §11.1); null for another scheme or none. */
export function bearerOf(v: string): string | null {
  if (v.length < 8 || v.slice(0, 7).toLowerCase() !== 'bearer ') return null;
  const t = v.slice(7).trim();
  return t === '' ? null : t;
}

/** The token of `Authorization: Bearer <token>`; undefined when there is none. */
export function bearerToken(ctx: RequestContext): string | undefined {
  const h = ctx.header('authorization');
  return (h === undefined ? null : bearerOf(h)) ?? undefined;
}

/** RFC 6750 §3: realm and error_description allow %x20-21 / %x23-5B / %x5D-7E only. */
const quoted = (s: string): string => s.replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '');

/** The WWW-Authenticate value: just the realm when no token came, error="invalid_token" when a bad one did (RFC 6750 §3). */
export function bearerChallenge(realm: string, description: string | null): string {
  if (description === null) return `Bearer realm="${quoted(realm)}"`;
  return `Bearer realm="${quoted(realm)}", error="invalid_token", error_description="${quoted(description)}"`;
}
