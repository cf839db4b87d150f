// Request hygiene, from raw bytes, on every listener where the problem applies
// (uws = listen.http on uWebSockets.js; h2c and tls-h2 = node:http2; tls-h1 =
// listen.https with ALPN http/1.1, node's HTTP/1.1 parser):
// - percent-encoded and dot-segment spellings of a denied path never reach the upstream;
// - chunk extensions: uWS v20.30 misreads a chunk-size line with an extension
//   (`0;a` is a 186-byte chunk, ';' counted as the hex digit 11), so a front
//   proxy that forwards extensions and reuses its connection lets a client
//   smuggle a request. Defence (limits.http1ChunkedBodies): a chunked body on
//   the uws port from something that looks like a proxy (Via, X-Forwarded-For,
//   Forwarded, or a peer in rateLimit.trustedProxies) is refused with 411
//   WICKET_ERR_LENGTH_REQUIRED + Connection: close (default
//   `refuse-from-proxies`); `refuse` refuses every one; `accept` takes them;
// - Transfer-Encoding other than a lone chunked, control bytes in header
//   values, X-Forwarded-Proto / Forwarded proto, fragments in the target,
//   pipelining, header counts uWS cannot hold, and non-origin-form targets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { startRecordingUpstream, type Seen as Got, type Upstream } from './helpers/upstream.js';
import { header, type RawResult } from './helpers/raw-http.js';
import { LISTENERS, errorCode, rawOn, selfSigned, send, show, type Reply } from './helpers/listeners.js';
import { sleep } from './helpers/wait.js';

/** What the upstream received: at the start of each request, then its body when complete. */
const ROUTES = (upUrl: string): string => `upstreams:
  up: { targets: [ { url: "${upUrl}" } ] }
routes:
  - name: deny
    match: { path: /h2c/flag }
    respond: { status: 403, headers: { content-type: text/plain }, body: "denied" }
  - name: h2c
    match: { path: "/h2c/*" }
    upstream: up
  - name: api
    match: { path: "/api/*" }
    upstream: up
`;

/** The repro from the issue: a chunk-size line with an extension, then 184 X. */
const REPRO = (path: string, proxyHeader: string | null): string =>
  `POST ${path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n${proxyHeader === null ? '' : `${proxyHeader}\r\n`}\r\n0;a\r\n\r\n${'X'.repeat(184)}\r\n0\r\n\r\n`;
const PLAIN_CHUNKED = (path: string, proxyHeader: string | null): string =>
  `POST ${path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n${proxyHeader === null ? '' : `${proxyHeader}\r\n`}\r\n5\r\nhello\r\n0\r\n\r\n`;

const rawShow = (r: RawResult): string => `closed=${r.closed} ${JSON.stringify(r.text.slice(0, 400))}`;

describe('request hygiene (2 workers, h2c + TLS)', { timeout: 300_000 }, () => {
  let up: Upstream;
  let gw: Gateway;
  let tlsFiles: { cert: string; key: string };
  const got: Got[] = [];
  /** Gateways started by single tests (other limits settings), stopped at the end. */
  const extra: Gateway[] = [];
  let pidsBefore: number[] = [];

  before(async () => {
    tlsFiles = selfSigned();
    up = await startRecordingUpstream(got);
    gw = await startGateway(ROUTES(up.url), { workers: 2, h2c: true, https: tlsFiles });
    pidsBefore = workerPids(gw);
  });

  after(async () => {
    for (const g of extra) await g.stop();
    await gw?.stop();
    await up?.close();
  });

  /** Requests the upstream received whose target contains `part`. */
  const seen = (part: string): Got[] => got.filter((g) => g.url.includes(part));
  /** Lets a request that slipped through reach the upstream before asserting it did not. */
  const settle = (): Promise<void> => sleep(300);

  const assertError = (r: Reply, status: number, code: string, what: string): void => {
    assert.equal(r.status, status, `${what}: ${show(r)}`);
    assert.equal(errorCode(r), code, `${what}: ${show(r)}`);
  };

  async function otherGateway(limits: string, rateLimit = ''): Promise<Gateway> {
    const g = await startGateway(`limits: ${limits}\n${rateLimit}${ROUTES(up.url)}`, { workers: 2 });
    extra.push(g);
    return g;
  }

  // --- percent-encoded bypass of a deny route ----------------------------------

  const SPELLINGS = ['/h2c/%66lag', '/h2c/fl%61g', '/h2c/%2e/flag', '/h2c/x/../flag'];
  for (const l of LISTENERS) {
    test(`deny route: ${SPELLINGS.join(', ')} are 403 and never reach the upstream (${l})`, async () => {
      const before = got.length;
      const bad: string[] = [];
      for (const path of SPELLINGS) {
        const r = await send(gw, l, { path, settleMs: 20 });
        if (r.status !== 403) bad.push(`${path}: ${show(r)}`);
      }
      await settle();
      const leaked = got.slice(before).map((g) => g.url);
      assert.deepEqual({ bad, leaked }, { bad: [], leaked: [] });
    });
  }

  // --- chunk extensions / chunked bodies from proxies (uws) ------------------

  test('uws, default (refuse-from-proxies): the issue repro with Via -> 411 WICKET_ERR_LENGTH_REQUIRED, Connection: close, the upstream gets nothing', async () => {
    const r = await rawOn(gw, 'uws', REPRO('/api/x', 'Via: 1.1 front'), { timeoutMs: 3000 });
    await settle();
    assert.equal(r.responses[0]?.status, 411, rawShow(r));
    assert.equal(JSON.parse(r.responses[0]!.body.toString()).error.code, 'WICKET_ERR_LENGTH_REQUIRED');
    assert.deepEqual(header(r.responses[0]!, 'connection'), ['close'], rawShow(r));
    assert.equal(r.closed, true, 'the connection is closed');
    assert.equal(r.responses.length, 1, `nothing after the 411: ${rawShow(r)}`);
    assert.deepEqual(seen('/api/x').map((g) => `${g.method} ${g.url} ${g.body.length} bytes`), [], 'the upstream received the request');
  });

  for (const [name, h] of [['X-Forwarded-For', 'X-Forwarded-For: 203.0.113.7'], ['Forwarded', 'Forwarded: for=203.0.113.7']] as const) {
    test(`uws, default: a chunked body with ${name} (looks proxied) -> 411 with Connection: close, not forwarded`, async () => {
      const path = `/api/chunked-${name.toLowerCase()}`;
      const r = await rawOn(gw, 'uws', PLAIN_CHUNKED(path, h), { timeoutMs: 3000 });
      await settle();
      assert.equal(r.responses[0]?.status, 411, rawShow(r));
      assert.deepEqual(header(r.responses[0]!, 'connection'), ['close'], rawShow(r));
      assert.deepEqual(seen(path), []);
    });
  }

  test('uws, default: a plain chunked upload without proxy headers is proxied; the upstream gets exactly "hello"', async () => {
    const r = await rawOn(gw, 'uws', PLAIN_CHUNKED('/api/plain-chunked', null), { timeoutMs: 3000 });
    assert.equal(r.responses[0]?.status, 200, rawShow(r));
    await settle();
    const g = seen('/api/plain-chunked');
    assert.equal(g.length, 1);
    assert.equal(g[0]!.body.toString('latin1'), 'hello');
  });

  test('uws, default with the peer in rateLimit.trustedProxies: a chunked body without proxy headers -> 411', async () => {
    const g = await startGateway(`rateLimit: { trustedProxies: [127.0.0.1/32] }\n${ROUTES(up.url)}`, { workers: 2 });
    extra.push(g);
    const r = await rawOn(g, 'uws', PLAIN_CHUNKED('/api/trusted-peer', null), { timeoutMs: 3000 });
    await settle();
    assert.equal(r.responses[0]?.status, 411, rawShow(r));
    assert.deepEqual(seen('/api/trusted-peer'), []);
  });

  test('uws, limits.http1ChunkedBodies: refuse: the repro without Via -> 411', async () => {
    const g = await otherGateway('{ http1ChunkedBodies: refuse }');
    const r = await rawOn(g, 'uws', REPRO('/api/refuse-repro', null), { timeoutMs: 3000 });
    await settle();
    assert.equal(r.responses[0]?.status, 411, rawShow(r));
    assert.deepEqual(header(r.responses[0]!, 'connection'), ['close'], rawShow(r));
    assert.deepEqual(seen('/api/refuse-repro'), []);
    const plain = await rawOn(g, 'uws', PLAIN_CHUNKED('/api/refuse-plain', null), { timeoutMs: 3000 });
    assert.equal(plain.responses[0]?.status, 411, `a plain chunked body too: ${rawShow(plain)}`);
  });

  test('uws, limits.http1ChunkedBodies: accept: a chunked body with Via is proxied', async () => {
    const g = await otherGateway('{ http1ChunkedBodies: accept }');
    const r = await rawOn(g, 'uws', PLAIN_CHUNKED('/api/accept-via', 'Via: 1.1 front'), { timeoutMs: 3000 });
    assert.equal(r.responses[0]?.status, 200, rawShow(r));
    await settle();
    assert.equal(seen('/api/accept-via')[0]?.body.toString(), 'hello');
  });

  test('tls-h1 (node\'s parser reads `0;a` correctly): the POST ends at `0;a` with an empty body, the bytes behind it get 400, nothing is smuggled (10 tries)', async () => {
    // Node reads `0;a` as the last chunk: the POST is complete (empty body),
    // and may rightly be proxied as such; the X bytes behind it are a
    // malformed second request, refused with node's 400 and a close.
    const replies: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await rawOn(gw, 'tls-h1', REPRO(`/api/tls-repro-${i}/`, 'Via: 1.1 front'), { expect: 2, timeoutMs: 3000, settleMs: 50 });
      replies.push(r.responses.map((x) => x.status).join(','));
    }
    await settle();
    assert.ok(replies.every((x) => x.includes('400')), `node's 400 for the bytes after the empty body: ${replies.join(' | ')}`);
    const bad = seen('/api/tls-repro-').filter((g) => g.body.length !== 0 || g.method !== 'POST');
    assert.deepEqual(bad.map((g) => `${g.method} ${g.url} ${g.body.length} bytes`), [], 'only empty-bodied POSTs reach the upstream');
  });

  // --- Transfer-Encoding other than a lone chunked ------------------------------

  for (const l of ['uws', 'tls-h1'] as const) {
    test(`Transfer-Encoding: gzip, chunked -> 400 and never forwarded (${l})`, async () => {
      const path = `/api/gzip-chunked-${l}`;
      const r = await rawOn(gw, l, `POST ${path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, { timeoutMs: 3000 });
      await settle();
      assert.equal(r.responses[0]?.status, 400, rawShow(r));
      const code = (() => {
        try {
          return (JSON.parse(r.responses[0]!.body.toString()) as { error: { code: string } }).error.code;
        } catch {
          return 'node';
        }
      })();
      assert.ok(code === 'WICKET_ERR_BAD_FRAMING' || code === 'node', `${code}: ${rawShow(r)}`);
      assert.deepEqual(seen(path).map((g) => `${g.method} ${g.url} ${g.body.length} bytes`), []);
    });
  }

  // --- control bytes in header values -------------------------------------------

  for (const l of ['uws', 'tls-h1', 'h2c'] as const) {
    test(`a header value with DEL (0x7f) -> 400 WICKET_ERR_BAD_REQUEST, not forwarded (${l})`, async (t) => {
      const path = `/h2c/del-${l}`;
      const r = await send(gw, l, { path, headers: [['x-del', Buffer.from([0x61, 0x7f, 0x62])]] });
      if (l === 'h2c' && r.refusedByClient) {
        // node:http2 validates header values before sending; raw HTTP/2 framing is out of scope here.
        t.skip(`node:http2 refuses to send it: ${r.error}`);
        return;
      }
      await settle();
      if (l === 'h2c' && r.status === 200) {
        // nghttp2 drops a field with an invalid value before node sees it (RFC 9113 §8.2.1): served without it.
        assert.deepEqual(seen(path).map((g) => g.headers['x-del']), [undefined], 'the DEL field never reaches the upstream');
        return;
      }
      // tls-h1: node's parser refuses it first (a bare 400); uws: the gateway's own.
      if (l === 'tls-h1') assert.equal(r.status, 400, show(r));
      else assertError(r, 400, 'WICKET_ERR_BAD_REQUEST', 'DEL in a header value');
      assert.deepEqual(seen(path), []);
    });
  }

  test('a header value with a raw 0xff byte on uws -> 400, never forwarded (as U+FFFD or otherwise)', async () => {
    const path = '/h2c/ff-uws';
    const r = await send(gw, 'uws', { path, headers: [['x-ff', Buffer.from([0x61, 0xff, 0x62])]] });
    await settle();
    const g = seen(path);
    assert.equal(r.status, 400, `${show(r)}; upstream got x-ff=${JSON.stringify(g[0]?.headers['x-ff'])}`);
    assert.deepEqual(g, []);
  });

  // --- X-Forwarded-Proto / Forwarded --------------------------------------------

  for (const l of LISTENERS) {
    const proto = l.startsWith('tls') ? 'https' : 'http';
    test(`the upstream sees x-forwarded-proto: ${proto} and forwarded proto=${proto} (${l})`, async () => {
      const path = `/h2c/proto-${l}`;
      const r = await send(gw, l, { path });
      assert.equal(r.status, 200, show(r));
      const g = seen(path)[0]!;
      assert.equal(g.headers['x-forwarded-proto'], proto);
      assert.match(String(g.headers.forwarded), new RegExp(`proto=${proto}(;|,|$)`));
    });
  }

  // --- fragment ---------------------------------------------------------------------

  for (const l of ['uws', 'tls-h1'] as const) {
    test(`a fragment in the request target is not forwarded: GET /h2c/x#frag -> upstream /h2c/frag-${l} (${l})`, async () => {
      const r = await rawOn(gw, l, `GET /h2c/frag-${l}#frag HTTP/1.1\r\nHost: a\r\n\r\n`, { timeoutMs: 3000 });
      assert.equal(r.responses[0]?.status, 200, rawShow(r));
      assert.deepEqual(seen(`/h2c/frag-${l}`).map((g) => g.url), [`/h2c/frag-${l}`]);
    });
  }

  // --- pipelining ----------------------------------------------------------------------

  // uWS v20.30 aborts an asynchronous response when a pipelined request
  // arrives behind it and closes the connection: the handler never sees the
  // second request, so the gateway cannot answer it (docs/OPERATIONS.md).
  test('uws: two GETs to a proxied route in one write are both answered, in order', { todo: 'uWS v20.30 closes the connection on a request pipelined behind an async response' }, async () => {
    const r = await rawOn(gw, 'uws', 'GET /h2c/pipe-1 HTTP/1.1\r\nHost: a\r\n\r\nGET /h2c/pipe-2 HTTP/1.1\r\nHost: a\r\n\r\n', { expect: 2, timeoutMs: 3000 });
    assert.deepEqual(r.responses.map((x) => x.status), [200, 200], rawShow(r));
    const urls = r.responses.map((x) => (JSON.parse(x.body.toString()) as { url: string }).url);
    assert.deepEqual(urls, ['/h2c/pipe-1', '/h2c/pipe-2']);
  });

  // --- header counts ------------------------------------------------------------------------

  const manyHeaders = (path: string, fields: number): string =>
    `GET ${path} HTTP/1.1\r\nHost: a\r\n${Array.from({ length: fields - 1 }, (_, i) => `x-h${i}: v\r\n`).join('')}\r\n`;

  test('uws: 48 header fields (Host + 47) are served (the most uWS v20.30 dispatches)', async () => {
    const r = await rawOn(gw, 'uws', manyHeaders('/h2c/h48', 48), { timeoutMs: 3000 });
    assert.equal(r.responses[0]?.status, 200, rawShow(r));
  });

  for (const n of [49, 60]) {
    test(`uws: ${n} header fields are never forwarded`, async () => {
      const path = `/h2c/h${n}-fwd`;
      await rawOn(gw, 'uws', manyHeaders(path, n), { timeoutMs: 1500 });
      await settle();
      assert.deepEqual(seen(path), [], 'forwarded');
    });
    // uWS v20.30 dispatches at most 48 header fields; past that the handler
    // never runs and uWS answers nothing until its fixed 10 s idle timeout.
    test(`uws: ${n} header fields -> 431 or the connection closed within 5 s`, { todo: 'uWS v20.30 never dispatches 49+ header fields and closes only on its 10 s idle timer' }, async () => {
      const path = `/h2c/h${n}`;
      const r = await rawOn(gw, 'uws', manyHeaders(path, n), { timeoutMs: 5000 });
      const status = r.responses[0]?.status;
      assert.ok(status === 431 || (status === undefined && r.closed), `neither a 431 nor a close within 5 s: ${rawShow(r)}`);
      if (status === 431) assert.equal(JSON.parse(r.responses[0]!.body.toString()).error.code, 'WICKET_ERR_HEADERS_TOO_LARGE');
    });
  }

  for (const l of ['h2c', 'tls-h2', 'tls-h1'] as const) {
    test(`60 header fields are served where node parses them (${l})`, async () => {
      const r = await send(gw, l, { path: `/h2c/h60-${l}`, headers: Array.from({ length: 59 }, (_, i): [string, string] => [`x-h${i}`, 'v']) });
      assert.equal(r.status, 200, show(r));
    });
  }

  // --- request-target forms -----------------------------------------------------------------

  for (const l of ['uws', 'tls-h1'] as const) {
    for (const [name, bytes] of [
      ['asterisk-form OPTIONS *', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'],
      ['absolute-form GET http://a/x', 'GET http://a/h2c/absolute HTTP/1.1\r\nHost: a\r\n\r\n'],
    ] as const) {
      // uWS v20.30 never dispatches a non-origin-form target (no answer, idle close); node answers 400.
      const todo = l === 'uws' ? { todo: 'uWS v20.30 never dispatches asterisk- or absolute-form targets' } : {};
      test(`${name} -> 400 (${l})`, todo, async () => {
        const before = got.length;
        const r = await rawOn(gw, l, bytes, { timeoutMs: 3000 });
        await settle();
        assert.equal(r.responses[0]?.status, 400, rawShow(r));
        assert.deepEqual(got.slice(before).map((g) => g.url), []);
      });
    }
  }

  test('no worker died', () => {
    assert.deepEqual(gw.output.filter((l) => l.includes('worker died')), []);
    assert.deepEqual(workerPids(gw), pidsBefore);
  });
});

