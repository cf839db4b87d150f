// Request framing on the wire (RFC 9112 §6): ambiguous Content-Length /
// Transfer-Encoding combinations are refused and closed and never reach the
// upstream; valid ones are forwarded with exactly one framing header, through
// both HTTP/1.1 upstream clients (wicket, undici).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { header, sendRaw, type RawResult } from './helpers/raw-http.js';
import { startRecordingUpstream, type Seen, type Upstream } from './helpers/upstream.js';

let up: Upstream;
let gw: Gateway;
const got: Seen[] = [];
const CLIENTS = ['wicket', 'undici'] as const;

before(async () => {
  up = await startRecordingUpstream(got);
  gw = await startGateway(
    `upstreams:
  wicket: { client: wicket, targets: [ { url: "${up.url}" } ] }
  undici: { client: undici, targets: [ { url: "${up.url}" } ] }
routes:
  - name: via-wicket
    match: { path: "/wicket/*" }
    upstream: wicket
  - name: via-undici
    match: { path: "/undici/*" }
    upstream: undici
`,
    { workers: 2 },
  );
  // Warm both pools in both workers: a request the gateway starts to proxy
  // would then reach the upstream at once, so "never forwarded" means it.
  for (let i = 0; i < 6; i++) {
    for (const c of CLIENTS) {
      const r = await raw(`GET /${c}/warm HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
      assert.equal(r.responses[0]?.status, 200);
    }
  }
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

// --- raw HTTP/1.1 ----------------------------------------------------------

/**
 * Writes `parts` with `gapMs` between them and reads until the gateway closes,
 * `expect` responses are in (plus a short settle for stray bytes), or timeout.
 */
const raw = (parts: string | (string | Buffer)[], opts: { expect?: number; gapMs?: number; timeoutMs?: number } = {}): Promise<RawResult> =>
  sendRaw(gw.port, parts, opts);

const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

/** Framing headers the upstream received. */
function framing(rec: Seen): { cl: string[]; te: string[] } {
  const cl: string[] = [];
  const te: string[] = [];
  for (let i = 0; i < rec.rawHeaders.length; i += 2) {
    const n = rec.rawHeaders[i]!.toLowerCase();
    if (n === 'content-length') cl.push(rec.rawHeaders[i + 1]!);
    if (n === 'transfer-encoding') te.push(rec.rawHeaders[i + 1]!);
  }
  return { cl, te };
}

function assertOneFraming(rec: Seen, bodyLength: number): void {
  const f = framing(rec);
  assert.ok(!(f.cl.length > 0 && f.te.length > 0), `upstream got both Content-Length and Transfer-Encoding: ${JSON.stringify(f)}`);
  assert.ok(f.cl.length <= 1 && f.te.length <= 1, `upstream got repeated framing headers: ${JSON.stringify(f)}`);
  if (f.cl.length === 1) assert.equal(f.cl[0], String(bodyLength));
  if (f.te.length === 1) assert.equal(f.te[0]!.toLowerCase(), 'chunked');
  if (bodyLength > 0) assert.equal(f.cl.length + f.te.length, 1, 'a body needs exactly one framing header');
}

// --- refused -----------------------------------------------------------------

/** Request bytes after the head: a body that hides a second request. */
const SMUGGLE = (prefix: string) => `GET /${prefix}/smuggled HTTP/1.1\r\nHost: t\r\n\r\n`;

/** A refused case: extra head lines and the body that follows, for a route prefix. */
const REFUSED: { name: string; build: (tail: string) => { head: string; body: string } }[] = [
  { name: 'two conflicting Content-Length', build: (t) => ({ head: `Content-Length: 5\r\nContent-Length: ${5 + (t || '!').length}`, body: `hello${t || '!'}` }) },
  { name: 'conflicting Content-Length list', build: (t) => ({ head: `Content-Length: 5, ${5 + (t || '!').length}`, body: `hello${t || '!'}` }) },
  { name: 'Content-Length with a letter', build: (t) => ({ head: 'Content-Length: 5a', body: `hello${t}` }) },
  { name: 'Content-Length hex', build: (t) => ({ head: 'Content-Length: 0x5', body: `hello${t}` }) },
  { name: 'Content-Length with a plus sign', build: (t) => ({ head: 'Content-Length: +5', body: `hello${t}` }) },
  { name: 'Content-Length with a minus sign', build: (t) => ({ head: 'Content-Length: -5', body: `hello${t}` }) },
  { name: 'Content-Length with a space inside', build: (t) => ({ head: 'Content-Length: 1 5', body: `hello${t}` }) },
  { name: 'Content-Length empty', build: (t) => ({ head: 'Content-Length: ', body: `hello${t}` }) },
  { name: 'Transfer-Encoding: gzip, chunked', build: (t) => ({ head: 'Transfer-Encoding: gzip, chunked', body: `0\r\n\r\n${t}` }) },
  { name: 'Transfer-Encoding: chunked, chunked', build: (t) => ({ head: 'Transfer-Encoding: chunked, chunked', body: `0\r\n\r\n${t}` }) },
  { name: 'Transfer-Encoding: chunked twice', build: (t) => ({ head: 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked', body: `0\r\n\r\n${t}` }) },
  { name: 'Transfer-Encoding: identity', build: (t) => ({ head: 'Transfer-Encoding: identity', body: `hello${t}` }) },
  { name: 'Transfer-Encoding: gzip', build: (t) => ({ head: 'Transfer-Encoding: gzip', body: `hello${t}` }) },
  { name: 'Transfer-Encoding: chunked, then Content-Length', build: (t) => ({ head: 'Transfer-Encoding: chunked\r\nContent-Length: 5', body: `0\r\n\r\n${t}` }) },
  { name: 'Content-Length, then Transfer-Encoding: chunked', build: (t) => ({ head: 'Content-Length: 5\r\nTransfer-Encoding: chunked', body: `0\r\n\r\n${t}` }) },
  { name: 'Content-Length: 0 with Transfer-Encoding: chunked', build: (t) => ({ head: 'Content-Length: 0\r\nTransfer-Encoding: chunked', body: `5\r\nhello\r\n0\r\n\r\n${t}` }) },
];

const refusedRequest = (prefix: string, c: (typeof REFUSED)[number], smuggle: boolean): string => {
  const { head, body } = c.build(smuggle ? SMUGGLE(prefix) : '');
  return `POST /${prefix}/refused HTTP/1.1\r\nHost: t\r\n${head}\r\n\r\n${body}`;
};

/** Which refusals came back as an empty close rather than a 400 (uWS's own parser). */
const silent = new Set<string>();

/** Checks one refusal: nothing upstream, at most one reply (a 400 with Connection: close), connection closed. */
async function assertRefused(c: (typeof REFUSED)[number], prefix: string, smuggle: boolean): Promise<void> {
  const before = got.length;
  const r = await raw(refusedRequest(prefix, c, smuggle), { expect: 2 });
  await settle();
  assert.deepEqual(got.slice(before).map((g) => g.url), [], 'the upstream must see no request');
  assert.ok(r.responses.length <= 1, `a second response followed the refusal: ${r.responses.map((x) => x.status).join(', ')}`);
  assert.equal(r.closed, true, 'the connection must be closed');
  if (r.responses.length === 0 && r.extra.length === 0) {
    // With a request hidden behind it, uWS closes before the deferred 400
    // can go out (that is what keeps the hidden request from being
    // dispatched); only a lone refusal must get its 400.
    if (!smuggle) silent.add(c.name);
    return;
  }
  // Whatever is sent back is one 400 with Connection: close, and nothing after it.
  assert.equal(r.responses.length, 1, `unexpected bytes: ${JSON.stringify(r.extra.toString('latin1'))}`);
  const res = r.responses[0]!;
  assert.equal(res.status, 400);
  assert.deepEqual(header(res, 'connection'), ['close']);
  const body = JSON.parse(res.body.toString()) as { error: { code: string; requestId: string } };
  assert.equal(body.error.code, 'WICKET_ERR_BAD_FRAMING');
  assert.deepEqual(header(res, 'x-request-id'), [body.error.requestId]);
  assert.equal(r.extra.length, 0, 'nothing may follow the 400');
}

describe('ambiguous or malformed framing is refused and closed, never forwarded', () => {
  for (const c of REFUSED) {
    test(c.name, () => assertRefused(c, 'wicket', false));
  }
});

describe('a request hidden behind a refused one is never processed', () => {
  for (const client of CLIENTS) {
    for (const c of REFUSED) {
      test(`${c.name} (${client})`, () => assertRefused(c, client, true));
    }
  }

  test('Wicket answers 400 itself when uWS lets the request through', () => {
    // These reach Wicket's own framing check; the list pins that they are not
    // silently dropped, so the 400 path keeps being exercised.
    for (const n of ['two conflicting Content-Length', 'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: chunked, chunked', 'Transfer-Encoding: chunked twice']) {
      assert.ok(!silent.has(n), `${n} was dropped without a 400`);
    }
  });

  test('no smuggled request ever reached the upstream', () => {
    assert.deepEqual(got.filter((g) => g.url.includes('smuggled')).map((g) => g.url), []);
  });

  test(
    'every refused framing is answered with a 400 before the close',
    { todo: 'uWS v20.30 closes on its own Content-Length/Transfer-Encoding parse errors and discards the 400 Wicket already wrote' },
    async () => {
      const missing: string[] = [];
      for (const c of REFUSED) {
        const r = await raw(refusedRequest('wicket', c, false));
        if (r.responses[0]?.status !== 400) missing.push(c.name);
      }
      assert.deepEqual(missing, []);
    },
  );

  test('an invalid chunk size never reaches the upstream as a complete request', async () => {
    for (const client of CLIENTS) {
      const before = got.length;
      const r = await raw(`POST /${client}/badchunk HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n${SMUGGLE(client)}`);
      await settle();
      assert.equal(r.closed, true);
      assert.ok(r.responses.every((x) => x.status >= 400), 'no success reply');
      for (const g of got.slice(before)) assert.equal(g.complete, false, `${client}: upstream got a complete request`);
    }
  });
});

// --- accepted ----------------------------------------------------------------

describe('valid framing is forwarded with exactly one framing header', () => {
  const binary = Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7) % 256));

  for (const client of CLIENTS) {
    test(`identical duplicate Content-Length is one Content-Length upstream (${client})`, async () => {
      const before = got.length;
      const r = await raw(`POST /${client}/dup HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello`);
      assert.equal(r.responses[0]?.status, 200);
      assert.equal(r.closed, false, 'a valid request keeps the connection');
      const rec = got.slice(before).find((g) => g.url === `/${client}/dup`)!;
      assert.ok(rec);
      assert.deepEqual(framing(rec), { cl: ['5'], te: [] });
      assert.equal(rec.body.toString(), 'hello');
    });

    test(`Content-Length body: exact bytes (${client})`, async () => {
      const before = got.length;
      const r = await raw([`POST /${client}/cl HTTP/1.1\r\nHost: t\r\nContent-Length: ${binary.length}\r\n\r\n`, binary]);
      assert.equal(r.responses[0]?.status, 200);
      const rec = got.slice(before).find((g) => g.url === `/${client}/cl`)!;
      assertOneFraming(rec, binary.length);
      assert.deepEqual(rec.body, binary);
    });

    test(`chunked body in one packet: exact bytes (${client})`, async () => {
      const before = got.length;
      const r = await raw(`POST /${client}/chunked HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`);
      assert.equal(r.responses[0]?.status, 200);
      const rec = got.slice(before).find((g) => g.url === `/${client}/chunked`)!;
      assertOneFraming(rec, 11);
      assert.equal(rec.body.toString(), 'hello world');
    });

    test(`chunked body streamed in pieces: exact bytes, one framing header (${client})`, async () => {
      const before = got.length;
      const parts: (string | Buffer)[] = [`POST /${client}/stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n`];
      for (let at = 0; at < binary.length; at += 200) {
        const piece = binary.subarray(at, at + 200);
        parts.push(Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]));
      }
      parts.push('0\r\n\r\n');
      const r = await raw(parts, { gapMs: 60 });
      assert.equal(r.responses[0]?.status, 200);
      const rec = got.slice(before).find((g) => g.url === `/${client}/stream`)!;
      assertOneFraming(rec, binary.length);
      assert.deepEqual(rec.body, binary);
    });

    test(`Transfer-Encoding is case-insensitive; trailer fields are not forwarded as headers (${client})`, async () => {
      const before = got.length;
      const r = await raw(`POST /${client}/trailers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n`);
      assert.equal(r.responses[0]?.status, 200);
      const rec = got.slice(before).find((g) => g.url === `/${client}/trailers`)!;
      assertOneFraming(rec, 5);
      assert.equal(rec.body.toString(), 'hello');
      assert.ok(!rec.rawHeaders.some((h) => h.toLowerCase() === 'x-trailer'));
    });

    test(`Content-Length: 0 and no body: nothing framed as a body (${client})`, async () => {
      const before = got.length;
      const r = await raw(`POST /${client}/empty HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n`);
      assert.equal(r.responses[0]?.status, 200);
      const rec = got.slice(before).find((g) => g.url === `/${client}/empty`)!;
      assertOneFraming(rec, 0);
      assert.equal(framing(rec).te.length, 0);
      assert.equal(rec.body.length, 0);
      const g = await raw(`GET /${client}/nobody HTTP/1.1\r\nHost: t\r\n\r\n`);
      assert.equal(g.responses[0]?.status, 200);
      const rg = got.find((x) => x.url === `/${client}/nobody`)!;
      assert.deepEqual(framing(rg).te, []);
    });
  }

  test(
    'chunk extensions are accepted (RFC 9112 §7.1.1)',
    { todo: 'uWS v20.30 closes the connection on a chunk extension' },
    async () => {
      const r = await raw('POST /wicket/ext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0\r\n\r\n');
      assert.equal(r.responses[0]?.status, 200);
    },
  );

  test(
    'a request pipelined behind a proxied one is answered in order',
    { todo: 'uWS v20.30 drops the connection when a pipelined request arrives while an async response is pending' },
    async () => {
      const r = await raw('GET /wicket/p1 HTTP/1.1\r\nHost: t\r\n\r\nGET /wicket/p2 HTTP/1.1\r\nHost: t\r\n\r\n', { expect: 2 });
      assert.deepEqual(r.responses.map((x) => x.status), [200, 200]);
    },
  );
});
