// RFC 6750 Bearer tokens: where they are read and how a refusal is told.
import type { RequestContext } from '../../pipeline/context.js';

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1); undefined when there is none. */
export function bearerToken(ctx: RequestContext): string | undefined {
  const h = ctx.header('authorization');
  if (h === undefined || h.length < 8 || h.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const t = h.slice(7).trim();
  return t === '' ? undefined : t;
}

/** A quoted-string's content: no quote, backslash or control character can break out of it. */
function quoted(s: string): string {
  return s.replace(/[\\"\x00-\x1f\x7f]/g, '');
}

/** The WWW-Authenticate value: just the realm when no token came, error="invalid_token" when a bad one did (RFC 6750 §3). */
export function bearerChallenge(realm: string, description: string | null): string {
  if (description === null) return `Bearer realm="${quoted(realm)}"`;
  return `Bearer realm="${quoted(realm)}", error="invalid_token", error_description="${quoted(description)}"`;
}
