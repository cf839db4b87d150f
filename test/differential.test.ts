// Differential: the same request over HTTP/1.1 (uWS listener, raw socket: the
// exact bytes) and over h2c (node:http2, :path as generated) must be routed
// and forwarded the same way. fast-check generates methods, request targets
// built from path-ish pieces (dot segments, percent-encoded dots, letters,
// slashes and spaces), header sets and small bodies; the upstream echoes what
// it received. Then, separately: every spelling of /deny/flag (percent-encoded
// unreserved characters, dot segments) is the deny route's 403 on both.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { send, show, type Reply, type Req } from './helpers/listeners.js';

/** What the echo upstream answers: what it received. */
interface Echo {
  from: 'echo';
  method: string;
  url: string;
  headers: Record<string, string | string[]>;
  bytes: number;
}

/** WICKET_FC_RUNS=N for a longer search (default 150). */
const RUNS = Number(process.env.WICKET_FC_RUNS ?? 150);
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
const AUTHORITY = 'diff.test';

/** Differences the protocols are allowed to make in what the upstream sees. */
const PROTOCOL_SPECIFIC = new Set(['x-request-id', 'content-length', 'transfer-encoding', 'connection', 'te', 'keep-alive']);

/** Names the generator leaves out: framing, hop-by-hop, forwarding (set by the gateway), HTTP/2-forbidden, and cookie (HTTP/2 may split it). */
const RESERVED = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'expect',
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-request-id', 'proxy-authorization', 'http2-settings', 'cookie',
]);

/** RFC 9110 tchar less upper case (HTTP/2 names are lower case) and the ones below. */
const TOKEN_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789-'.split('');
/**
 * The other tchars. uWS v20.30 silently drops a request with any of them in
 * a header name (no answer; the connection idles until uWS's 10 s timeout):
 * they get their own test below so the property above keeps finding other
 * differences.
 */
const TCHAR_SYMBOLS = '!#$%&\'*+.^_`|~'.split('');
const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i));
const UNRESERVED_LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'.split('');

const headerName = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 }).filter((n) => !RESERVED.has(n));
// No leading/trailing whitespace: HTTP/1.1 parsers strip it, HTTP/2 calls the field malformed (RFC 9113 §8.2.1).
const headerValue = fc.string({ unit: fc.constantFrom(...PRINTABLE), maxLength: 24 }).map((v) => v.trim());
const headers = fc.uniqueArray(fc.tuple(headerName, headerValue), { maxLength: 5, selector: ([n]) => n });

const piece = fc.oneof(
  fc.constantFrom('.', '..', '%2e', '%2E', '%2e%2e', '.%2E', '%66', '%41', '%2F', '%20', '~', '-', 'flag', 'fl', 'ag', 'x', 'api', 'static', 'deny'),
  fc.string({ unit: fc.constantFrom(...UNRESERVED_LETTERS), minLength: 1, maxLength: 6 }),
);
const segment = fc.array(piece, { minLength: 1, maxLength: 3 }).map((p) => p.join(''));
const genericPath = fc
  .tuple(fc.constantFrom('/', '/api/', '/static/', '/deny/'), fc.array(segment, { maxLength: 4 }), fc.boolean())
  .map(([prefix, segs, slash]) => prefix + segs.join('/') + (slash && segs.length > 0 ? '/' : ''));

/** RFC 3986 §6.2.2: decode percent-encoded unreserved characters, then §5.2.4 remove dot segments. */
function referenceNormalize(path: string): string {
  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (m, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : m.toUpperCase();
  });
  const out: string[] = [];
  const segs = decoded.split('/').slice(1);
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      out.pop();
      if (last) out.push('');
    } else out.push(s);
  });
  return '/' + out.join('/');
}

/** "flag" with each letter maybe percent-encoded (either hex case). */
const encodedFlag = fc
  .tuple(...'flag'.split('').map((ch) => fc.constantFrom(ch, `%${ch.charCodeAt(0).toString(16)}`, `%${ch.charCodeAt(0).toString(16).toUpperCase()}`)))
  .map((p) => p.join(''));
/** A dot segment, maybe percent-encoded: ".", "%2e", "%2E". */
const dot = fc.constantFrom('.', '%2e', '%2E');
/** Noise before "flag" that dot segments cancel: "./", "x/../", "%2e/", "abc/%2e%2e/". */
const detour = fc.oneof(
  dot.map((d) => `${d}/`),
  fc.tuple(fc.string({ unit: fc.constantFrom(...UNRESERVED_LETTERS), minLength: 1, maxLength: 4 }), dot, dot).map(([s, a, b]) => `${s}/${a}${b}/`),
);
const denySpelling = fc
  .tuple(fc.constantFrom('deny', '%64eny', 'd%65ny', 'de%6Ey'), fc.array(detour, { maxLength: 2 }), encodedFlag)
  .map(([d, det, f]) => `/${d}/${det.join('')}${f}`)
  .filter((p) => referenceNormalize(p) === '/deny/flag');

interface GenReq {
  method: (typeof METHODS)[number];
  path: string;
  headers: [string, string][];
  body: string | null;
}

const request = fc.record({
  method: fc.constantFrom(...METHODS),
  path: fc.oneof({ arbitrary: genericPath, weight: 5 }, { arbitrary: denySpelling, weight: 1 }),
  headers,
  body: fc.option(fc.string({ unit: fc.constantFrom(...PRINTABLE), maxLength: 64 }), { nil: null }),
});

describe('differential: HTTP/1.1 (uWS) vs h2c (node:http2)', { timeout: 300_000 }, () => {
  let up: Upstream;
  let gw: Gateway;

  before(async () => {
    up = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({ from: 'echo', method: req.method!, url: req.url!, headers: req.headers as Echo['headers'], bytes: Buffer.concat(chunks).length } satisfies Echo);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
    });
    gw = await startGateway(
      `upstreams:
  echo: { targets: [ { url: "${up.url}" } ] }
routes:
  - name: all
    match: { path: "/*" }
    upstream: echo
  - name: api
    match: { path: "/api/*" }
    upstream: echo
  - name: static
    match: { path: /static/x }
    respond: { status: 200, headers: { content-type: text/plain }, body: "static x" }
  - name: deny
    match: { path: /deny/flag }
    respond: { status: 403, headers: { content-type: text/plain }, body: "denied" }
`,
      { workers: 2, h2c: true },
    );
  });

  after(async () => {
    await gw?.stop();
    await up?.close();
  });

  const toReq = (g: GenReq): Req => ({ method: g.method, path: g.path, headers: g.headers, body: g.body ?? undefined, authority: AUTHORITY, settleMs: 5, timeoutMs: 2000 });

  const echoOf = (r: Reply): Echo | null => {
    try {
      const j = JSON.parse(r.body.toString()) as Echo;
      return j.from === 'echo' ? j : null;
    } catch {
      return null;
    }
  };

  /** What the upstream saw, less what the protocols may differ in. */
  const view = (e: Echo): { method: string; url: string; headers: Record<string, string | string[]>; bytes: number } => {
    const h: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(e.headers)) if (!PROTOCOL_SPECIFIC.has(k)) Object.defineProperty(h, k, { value: v, enumerable: true });
    return { method: e.method, url: e.url, headers: h, bytes: e.bytes };
  };

  test('fast-check: the same status class, and when proxied the upstream sees the same method, target, headers and body length', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (g) => {
        const r1 = await send(gw, 'uws', toReq(g));
        const r2 = await send(gw, 'h2c', toReq(g));
        const ctx = `request ${JSON.stringify(g)}\n  HTTP/1.1: ${show(r1)}\n  h2c:      ${show(r2)}`;
        assert.ok(r1.status > 0 && r2.status > 0, `no response on one side\n${ctx}`);
        assert.equal(Math.floor(r1.status / 100), Math.floor(r2.status / 100), `status class differs\n${ctx}`);
        const e1 = echoOf(r1);
        const e2 = echoOf(r2);
        assert.equal(e1 !== null, e2 !== null, `proxied on one side only\n${ctx}`);
        if (e1 !== null && e2 !== null) assert.deepEqual(view(e1), view(e2), `the upstream saw different requests\n${ctx}`);
      }),
      { numRuns: RUNS, endOnFailure: false, interruptAfterTimeLimit: 240_000, markInterruptAsFailure: true },
    );
  });

  // uWS v20.30 accepts only A-Z a-z 0-9 - in header names: a request with any
  // other tchar is never dispatched and gets no answer (docs/OPERATIONS.md).
  test('header names with any RFC 9110 tchar (! # $ % & \' * + . ^ _ ` | ~) are forwarded the same on both', { todo: 'uWS v20.30 drops requests whose header names have tchars other than letters, digits and -' }, async () => {
    const bad: string[] = [];
    for (const c of TCHAR_SYMBOLS) {
      const name = `x${c}y`;
      const req: Req = { path: `/tchar/${encodeURIComponent(c)}`, headers: [[name, 'v']], authority: AUTHORITY, settleMs: 5, timeoutMs: 1000 };
      const r1 = await send(gw, 'uws', req);
      const r2 = await send(gw, 'h2c', req);
      const seen1 = echoOf(r1)?.headers[name];
      const seen2 = echoOf(r2)?.headers[name];
      if (r1.status !== 200 || r2.status !== 200 || seen1 !== 'v' || seen2 !== 'v') bad.push(`${name}: HTTP/1.1 ${show(r1)} | h2c ${show(r2)}`);
    }
    assert.deepEqual(bad, []);
  });

  test('the four spellings of /deny/flag from the issue: 403 on both, never proxied', async () => {
    const bad: string[] = [];
    for (const path of ['/deny/%66lag', '/deny/fl%61g', '/deny/./flag', '/deny/x/../flag']) {
      for (const l of ['uws', 'h2c'] as const) {
        const r = await send(gw, l, { path, authority: AUTHORITY, settleMs: 5 });
        if (r.status !== 403 || echoOf(r) !== null) bad.push(`${l} ${path}: ${show(r)}`);
      }
    }
    assert.deepEqual(bad, []);
  });

  test('fast-check: every spelling of /deny/flag (percent-encoded unreserved characters, dot segments) is 403 on both', async () => {
    await fc.assert(
      fc.asyncProperty(denySpelling, fc.constantFrom(...METHODS), async (path, method) => {
        const r1 = await send(gw, 'uws', { method, path, authority: AUTHORITY, settleMs: 5 });
        const r2 = await send(gw, 'h2c', { method, path, authority: AUTHORITY, settleMs: 5 });
        const ctx = `${method} ${path} (normalizes to ${referenceNormalize(path)})\n  HTTP/1.1: ${show(r1)}\n  h2c:      ${show(r2)}`;
        assert.equal(r1.status, 403, `HTTP/1.1 not denied\n${ctx}`);
        assert.equal(r2.status, 403, `h2c not denied\n${ctx}`);
      }),
      { numRuns: 100, interruptAfterTimeLimit: 120_000, markInterruptAsFailure: true },
    );
  });
});
