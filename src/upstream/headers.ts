// Hop-by-hop handling (RFC 9110 §7.6.1) for both directions, done on the raw
// name lists without building header objects.
import type { RequestContext } from '../pipeline/context.js';

/** Request headers never forwarded as-is; the proxy sets its own framing, host and forwarding headers. */
const REQUEST_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'expect', 'content-length', 'host', 'proxy-authorization', 'http2-settings',
]);

/**
 * Upstream response headers not forwarded: hop-by-hop, plus framing, Date
 * and uWS's banner, which our own uWS writes itself (no duplicates).
 */
const RESPONSE_DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade',
  'content-length', 'date', 'uwebsockets',
]);
const RESPONSE_DROP_LENGTHS = new Set([...RESPONSE_DROP].map((n) => n.length));

/** Names listed in a Connection header (other than close/keep-alive) are hop-by-hop too. */
function connectionTokens(value: string): string[] {
  const out: string[] = [];
  for (const t of value.split(',')) {
    const n = t.trim().toLowerCase();
    if (n !== '' && n !== 'close' && n !== 'keep-alive') out.push(n);
  }
  return out;
}

export interface ForwardInfo {
  readonly proto: string;
  /** Host header value to send upstream. */
  readonly host: string;
}

// uWS decodes header values as UTF-8; upstream clients write latin1 (one
// byte per char). Non-ASCII values are turned back into the client's bytes,
// so nothing is altered and a CR/LF hidden in a multi-byte char stays visible.
const NON_ASCII = /[^\x00-\x7f]/;

/** Builds the flat header list sent upstream. */
export function upstreamRequestHeaders(ctx: RequestContext, f: ForwardInfo): string[] {
  const h = ctx.headers;
  const out: string[] = ['host', f.host];
  let xff: string | undefined;
  let fwd: string | undefined;
  let extraDrop: string[] | null = null;
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!;
    if (n === 'connection') {
      const t = connectionTokens(h[i + 1]!);
      if (t.length) extraDrop = (extraDrop ?? ([] as string[])).concat(t);
    }
  }
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!;
    if (REQUEST_DROP.has(n)) continue;
    if (extraDrop !== null && extraDrop.includes(n)) continue;
    switch (n) {
      case 'x-forwarded-for':
        xff = xff === undefined ? h[i + 1] : `${xff}, ${h[i + 1]}`;
        continue;
      case 'forwarded':
        fwd = fwd === undefined ? h[i + 1] : `${fwd}, ${h[i + 1]}`;
        continue;
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
      case 'x-request-id':
        continue; // replaced below
    }
    const v = h[i + 1]!;
    out.push(n, NON_ASCII.test(v) ? Buffer.from(v, 'utf8').toString('latin1') : v);
  }
  const ip = ctx.remoteAddress;
  out.push('x-forwarded-for', xff === undefined ? ip : `${xff}, ${ip}`);
  out.push('x-forwarded-proto', f.proto);
  if (ctx.host !== '') out.push('x-forwarded-host', ctx.host);
  const forIp = ip.includes(':') ? `"[${ip}]"` : ip;
  const hostPart = ctx.host !== '' ? `;host=${quoteIfNeeded(ctx.host)}` : '';
  const me = `for=${forIp}${hostPart};proto=${f.proto}`;
  out.push('forwarded', fwd === undefined ? me : `${fwd}, ${me}`);
  out.push('x-request-id', ctx.requestId);
  if (ctx.contentLength >= 0) out.push('content-length', String(ctx.contentLength));
  return out;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** The Host was validated (no quote or backslash in it): quoting is enough. */
function quoteIfNeeded(v: string): string {
  return TOKEN.test(v) ? v : `"${v}"`;
}

/**
 * Scans undici's raw response headers (Buffers, alternating name/value).
 * Returns the Content-Length (-1 when absent) and fills `skip` with 1 at the
 * name index of every header not to forward (`skip` starts all zero).
 */
export function scanResponseHeaders(raw: readonly (Buffer | string)[], skip: Uint8Array): number {
  let cl = -1;
  let extra: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (!RESPONSE_DROP_LENGTHS.has(name.length)) continue;
    const n = (typeof name === 'string' ? name : name.toString('latin1')).toLowerCase();
    if (!RESPONSE_DROP.has(n)) continue;
    skip[i] = 1;
    if (n === 'content-length') cl = Number(String(raw[i + 1]));
    else if (n === 'connection') {
      const t = connectionTokens(String(raw[i + 1]));
      if (t.length) extra = (extra ?? ([] as string[])).concat(t);
    }
  }
  if (extra !== null) {
    for (let i = 0; i < raw.length; i += 2) if (extra.includes(String(raw[i]).toLowerCase())) skip[i] = 1;
  }
  return Number.isSafeInteger(cl) && cl >= 0 ? cl : -1;
}
