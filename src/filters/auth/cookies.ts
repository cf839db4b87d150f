// Request cookies as auth methods read and hide them (RFC 6265 §5.4).
// Every Cookie field is read: HTTP/2 clients send one field per cookie
// (RFC 9113 §8.2.3).
import type { RequestContext } from '../../pipeline/context.js';

/** The first non-empty value of cookie `name`; undefined when absent. */
export function requestCookie(ctx: RequestContext, name: string): string | undefined {
  const h = ctx.headers;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] !== 'cookie') continue;
    for (const part of h[i + 1]!.split(';')) {
      const eq = part.indexOf('=');
      if (eq !== -1 && part.slice(0, eq).trim() === name) {
        const v = part.slice(eq + 1).trim();
        if (v !== '') return v;
      }
    }
  }
  return undefined;
}

/** Takes cookie `name` out of every Cookie field (a field left empty goes). */
export function removeCookie(ctx: RequestContext, name: string): void {
  const h = ctx.headers;
  for (let i = h.length - 2; i >= 0; i -= 2) {
    if (h[i] !== 'cookie') continue;
    const rest = h[i + 1]!
      .split(';')
      .filter((part) => {
        const eq = part.indexOf('=');
        return eq === -1 || part.slice(0, eq).trim() !== name;
      })
      .map((p) => p.trim())
      .filter((p) => p !== '')
      .join('; ');
    if (rest === '') h.splice(i, 2);
    else h[i + 1] = rest;
  }
}
