// Request hygiene: the checks every request passes before routing, the same
// on every listener (docs/ARCHITECTURE.md, "Request hygiene"). Limits,
// method, header bytes, Host, message framing, the uWS chunk-extension
// defence, and path normalisation: what is routed is what is forwarded.
import type { BlockList } from 'node:net';
import { contains, plainAddress } from '../features/rate-limit/client-ip.js';
import { hostnameOf, normalizePath, type EncodedSlashes } from '../routing/normalize.js';
import type { MinRate } from './body-rate.js';
import type { RequestContext } from './context.js';
import type { ErrorCode } from './errors.js';
import { checkFraming, type Framing } from './framing.js';

/** What to do with chunked request bodies on a listener whose parser misreads chunk extensions (uWS v20.30). */
export type ChunkedPolicy = 'accept' | 'refuse' | 'refuse-from-proxies';

export interface HygieneRules {
  readonly maxHeaderBytes: number;
  readonly maxUrlLength: number;
  readonly encodedSlashes: EncodedSlashes;
  readonly http1ChunkedBodies: ChunkedPolicy;
  /** Peers that are proxies (rateLimit.trustedProxies): chunked bodies from them are refused under refuse-from-proxies. */
  readonly trustedProxies: BlockList | null;
  /** Slower request bodies are cut with 408 (body-rate.ts). */
  readonly requestBodyMinRate: MinRate;
}

const REQUEST_ID = /^[\x21-\x7e]{1,200}$/;
/** RFC 9110 §7.2: uri-host [":" port]; reg-name or IP literal. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{1,5})?$/;
/**
 * RFC 9110 §5.5: field values are VCHAR, SP, HTAB and obs-text. CR, LF, NUL
 * and other controls and DEL are refused; U+FFFD is what a listener's UTF-8
 * decoding made of bytes that were not UTF-8, which cannot be forwarded as
 * they came.
 */
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f\ufffd]/;

const framing: Framing = { contentLength: -1, chunked: false, error: null };

/** Fills the routed fields of `ctx` (path, hostname, framing); an error code when the request must be refused. */
export function checkRequest(ctx: RequestContext, rules: HygieneRules, nextId: () => string): ErrorCode | null {
  let rid = '';
  let hostCount = 0;
  let authCount = 0;
  let cl: string[] | null = null;
  let te: string[] | null = null;
  let proxied = false;
  let badValue = false;
  const h = ctx.headers;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    const v = h[i + 1]!;
    if (BAD_VALUE.test(v)) badValue = true;
    switch (k) {
      case 'host':
        hostCount++;
        if (ctx.host === '') ctx.host = v;
        break;
      case 'authorization':
        authCount++;
        break;
      case 'content-length':
        (cl ??= []).push(v);
        break;
      case 'transfer-encoding':
        (te ??= []).push(v);
        break;
      case 'content-type':
        if (ctx.contentType === '') ctx.contentType = v;
        break;
      case 'x-request-id':
        if (rid === '' && REQUEST_ID.test(v)) rid = v;
        break;
      case 'via':
      case 'x-forwarded-for':
      case 'forwarded':
        proxied = true;
        break;
    }
  }
  ctx.requestId = rid === '' ? nextId() : rid;
  ctx.hostname = hostnameOf(ctx.host);

  const target = ctx.target;
  if (target.length + (ctx.query === '' ? 0 : ctx.query.length + 1) > rules.maxUrlLength) return 'WICKET_ERR_URI_TOO_LONG';
  if (ctx.headerBytes + target.length + ctx.query.length > rules.maxHeaderBytes) return 'WICKET_ERR_HEADERS_TOO_LARGE';
  if (ctx.method === 'CONNECT') return 'WICKET_ERR_METHOD_NOT_ALLOWED';
  if (badValue) return 'WICKET_ERR_BAD_REQUEST';
  // RFC 9112 §3.2: exactly one Host, well formed (a proxy in front may read another one).
  if (hostCount > 1 || (ctx.host !== '' && !HOST.test(ctx.host))) return 'WICKET_ERR_BAD_REQUEST';
  // Authorization is one credential (RFC 9110 §11.6.2): with two, auth would check one and the upstream might read the other.
  if (authCount > 1) return 'WICKET_ERR_BAD_REQUEST';
  if (cl !== null || te !== null) {
    checkFraming(cl, te, framing);
    if (framing.error !== null) return 'WICKET_ERR_BAD_FRAMING';
    ctx.contentLength = framing.contentLength;
    ctx.chunked = framing.chunked;
  }
  const li = ctx.listener;
  if (li.http2) {
    // A body with no length: DATA frames, sent upstream chunked.
    ctx.chunked = ctx.hasBody && ctx.contentLength < 0;
  } else {
    ctx.hasBody = ctx.contentLength > 0 || ctx.chunked;
    if (ctx.chunked && li.looseChunked && refuseChunked(rules, proxied, ctx.remoteAddress)) return 'WICKET_ERR_LENGTH_REQUIRED';
  }
  // A fragment never belongs to a request target (RFC 9112 §3.2); a client that sends one loses it.
  const hash = ctx.query.indexOf('#');
  if (hash >= 0) ctx.query = ctx.query.slice(0, hash);
  const path = normalizePath(target, rules.encodedSlashes);
  if (path === null) return 'WICKET_ERR_BAD_REQUEST';
  ctx.path = path;
  return null;
}

/**
 * uWS v20.30 reads `0;ext` as a chunk of (bogus) size: behind a proxy that
 * forwards chunk extensions and reuses its connection for other clients,
 * that lets one client smuggle a request into another's. A direct client
 * can only confuse its own connection.
 */
function refuseChunked(rules: HygieneRules, proxied: boolean, peer: string): boolean {
  switch (rules.http1ChunkedBodies) {
    case 'accept':
      return false;
    case 'refuse':
      return true;
    default:
      return proxied || contains(rules.trustedProxies, plainAddress(peer));
  }
}
