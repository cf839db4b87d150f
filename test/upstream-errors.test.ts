// Upstream failures as the client sees them: each maps to its stable error
// code and status (502/503/504, JSON body), or, once the response headers are
// out, to a cut connection rather than a clean-looking short response. Round
// robin spreads requests over targets. No failure may take a worker down.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { Agent, request } from 'undici';
import { freePorts, startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { rawExchange } from './helpers/raw.js';
import { sleep, until } from './helpers/wait.js';


const CUT_TOTAL = 1024 * 1024;
const CUT_SENT = 100 * 1024;

/** Waits up to `ms` (bounded) unless the response closes first. */
function waitOrClose(res: http.ServerResponse, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      res.off('close', done);
      resolve();
    }
    res.on('close', done);
  });
}

/** Writes, lets it reach the socket, then kills the connection without finishing. */
async function writeThenDie(res: http.ServerResponse, chunk: Buffer): Promise<void> {
  await new Promise<void>((r) => res.write(chunk, () => r()));
  await sleep(50);
  res.socket?.destroy();
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = new URL(req.url!, 'http://x').pathname;
  if (path === '/slow/noread') {
    // Reads nothing and never answers (bounded: dropped after 8 s).
    setTimeout(() => res.destroy(), 8_000).unref();
    return;
  }
  req.resume();
  switch (path) {
    case '/slow/wait':
    case '/rt/wait':
      // Answers after 2 s (or never, if the gateway gave up and closed first).
      void waitOrClose(res, 2_000).then(() => {
        if (!res.destroyed) res.end('late\n');
      });
      return;
    case '/n/reset':
      // TCP RST before any response byte.
      req.socket.resetAndDestroy();
      return;
    case '/n/close':
      // FIN before any response byte.
      req.socket.destroy();
      return;
    case '/n/cut-length':
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': CUT_TOTAL });
      void writeThenDie(res, Buffer.alloc(CUT_SENT, 0x61));
      return;
    case '/n/cut-chunked':
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      void writeThenDie(res, Buffer.alloc(CUT_SENT, 0x62));
      return;
    case '/n/ok':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
      res.end('ok\n');
      return;
  }
  res.writeHead(404, { 'content-length': 0 });
  res.end();
}

let up: Upstream;
let rrA: Upstream;
let rrB: Upstream;
let gw: Gateway;
let agent: Agent;

before(async () => {
  up = await startUpstream(handler);
  rrA = await startUpstream();
  rrB = await startUpstream();
  const [deadPort] = await freePorts(1); // bound once and released: nothing listens there
  gw = await startGateway(
    `upstreams:
  down:
    connectTimeoutMs: 2000
    targets: [{ url: "http://127.0.0.1:${deadPort}" }]
  none:
    targets: []
  slow:
    headersTimeoutMs: 300
    targets: [{ url: "${up.url}" }]
  normal:
    targets: [{ url: "${up.url}" }]
  rr:
    balancer: round-robin
    targets: [{ url: "${rrA.url}" }, { url: "${rrB.url}" }]
routes:
  - name: down
    match: { path: /down }
    upstream: down
  - name: none
    match: { path: /none }
    upstream: none
  - name: slow
    match: { path: "/slow/*" }
    upstream: slow
    maxBodyBytes: 67108864
  - name: route-timeout
    match: { path: "/rt/*" }
    upstream: normal
    timeoutMs: 300
  - name: normal
    match: { path: "/n/*" }
    upstream: normal
  - name: rr
    match: { path: "/rr" }
    upstream: rr
`,
    { workers: 2 },
  );
  agent = new Agent({ connections: 8 });
});

after(async () => {
  await agent?.close();
  await gw?.stop();
  await Promise.all([up?.close(), rrA?.close(), rrB?.close()]);
});

interface ErrorJson {
  error: { code: string; message: string; requestId: string };
}

/** GET through the gateway; expects a JSON error with `status` and `code`. */
async function expectError(path: string, status: number, code: string): Promise<ErrorJson> {
  const r = await request(`${gw.url}${path}`, { dispatcher: agent, headersTimeout: 15_000, bodyTimeout: 15_000 });
  const text = await r.body.text();
  assert.equal(r.statusCode, status, `${path}: status (body ${text})`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const json = JSON.parse(text) as ErrorJson;
  assert.equal(json.error.code, code, `${path}: error code`);
  assert.equal(typeof json.error.message, 'string');
  assert.ok(json.error.requestId.length > 0, 'the error names the request id');
  assert.equal(r.headers['x-request-id'], json.error.requestId);
  return json;
}

describe('upstream failures map to stable errors', { timeout: 60_000 }, () => {
  test('upstream down (nothing listening) -> 502 WICKET_ERR_UPSTREAM_CONNECT', async () => {
    await expectError('/down', 502, 'WICKET_ERR_UPSTREAM_CONNECT');
    // Not a one-off: the next attempt gets the same answer.
    await expectError('/down', 502, 'WICKET_ERR_UPSTREAM_CONNECT');
  });

  test('upstream without targets -> 503 WICKET_ERR_NO_TARGET', async () => {
    await expectError('/none', 503, 'WICKET_ERR_NO_TARGET');
  });

  test('headersTimeoutMs exceeded -> 504 WICKET_ERR_UPSTREAM_TIMEOUT', async () => {
    await expectError('/slow/wait', 504, 'WICKET_ERR_UPSTREAM_TIMEOUT');
  });

  test('route timeoutMs exceeded -> 504 WICKET_ERR_UPSTREAM_TIMEOUT', async () => {
    await expectError('/rt/wait', 504, 'WICKET_ERR_UPSTREAM_TIMEOUT');
  });

  test('an error answered before the request body was read does not leave the connection stuck', { timeout: 30_000 }, async () => {
    // The upstream reads nothing, so undici stops taking the body, the
    // gateway stops reading the client (pause), then headersTimeoutMs fires
    // and the gateway answers 504 while most of the 32 MB body is unread.
    // Acceptable afterwards: the gateway closes the connection, or it reads
    // and discards the rest of the body and serves the next request.
    const SIZE = 32 * 1024 * 1024;
    const sock = net.connect(gw.port, '127.0.0.1');
    let buf = '';
    let closed = false;
    let bodySent = false;
    sock.on('data', (c: Buffer) => (buf += c.toString('latin1')));
    sock.on('close', () => (closed = true));
    sock.on('error', () => {});
    try {
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write(`POST /slow/noread HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nContent-Length: ${SIZE}\r\n\r\n`);
      sock.write(Buffer.alloc(SIZE, 0x63), () => (bodySent = true));
      assert.ok(await until(() => buf.includes('}}') || closed, 10_000), 'an answer came');
      assert.match(buf, /^HTTP\/1\.1 504 /);
      assert.ok(buf.includes('"code":"WICKET_ERR_UPSTREAM_TIMEOUT"'), buf.slice(0, 400));
      const settled = await until(() => closed || bodySent, 5_000);
      assert.ok(
        settled,
        'within 5 s of the 504 the gateway neither closed the connection nor read the rest of the body: the client socket stays paused (until uWS idle-times it out with a reset)',
      );
      if (!closed) {
        buf = '';
        sock.write('GET /n/ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        assert.ok(await until(() => buf.includes('\r\n\r\nok\n') || closed, 5_000), `the next request on the connection was answered: ${JSON.stringify(buf.slice(0, 200))}`);
        assert.match(buf, /^HTTP\/1\.1 200 /);
      }
    } finally {
      sock.destroy();
    }
  });

  test('upstream resets the connection before responding -> 502', async () => {
    const json = await expectError('/n/reset', 502, 'WICKET_ERR_UPSTREAM_RESET');
    assert.equal(json.error.code, 'WICKET_ERR_UPSTREAM_RESET');
  });

  test('upstream closes the connection before responding -> 502', async () => {
    await expectError('/n/close', 502, 'WICKET_ERR_UPSTREAM_RESET');
  });
});

describe('upstream dies mid-body: the client sees a cut, never a clean response', { timeout: 60_000 }, () => {
  test('Content-Length response cut short: connection closed before the declared length', async () => {
    const r = await request(`${gw.url}/n/cut-length`, { dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-length'], String(CUT_TOTAL));
    await assert.rejects(r.body.arrayBuffer(), 'reading the body fails: the response was cut');

    // On the wire: fewer bytes than declared, then the connection closes (no padding, no hang).
    const raw = await rawExchange(gw.port, 'GET /n/cut-length HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 10_000);
    assert.equal(raw.closed, true, 'the gateway closed the client connection');
    const head = raw.text.indexOf('\r\n\r\n');
    assert.ok(head > 0, 'headers were sent');
    assert.match(raw.text.slice(0, head), /^HTTP\/1\.1 200 /);
    const bodyLen = Buffer.byteLength(raw.text.slice(head + 4), 'latin1');
    assert.ok(bodyLen < CUT_TOTAL, `only ${bodyLen} of ${CUT_TOTAL} declared bytes arrived`);
  });

  test('chunked response cut short: connection closed without the terminating chunk', async () => {
    const r = await request(`${gw.url}/n/cut-chunked`, { dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
    assert.equal(r.statusCode, 200);
    await assert.rejects(r.body.arrayBuffer(), 'reading the body fails: the response was cut');

    const raw = await rawExchange(gw.port, 'GET /n/cut-chunked HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 10_000);
    assert.equal(raw.closed, true, 'the gateway closed the client connection');
    assert.match(raw.text, /^HTTP\/1\.1 200 /);
    assert.match(raw.text, /transfer-encoding: chunked/i);
    assert.ok(!raw.text.endsWith('0\r\n\r\n'), 'no terminating 0-chunk: the cut is visible to the client');
  });
});

describe('balancing and survival', { timeout: 60_000 }, () => {
  test('round robin spreads requests over both targets', async () => {
    const before = [rrA.seen.length, rrB.seen.length];
    const N = 20;
    for (let i = 0; i < N; i++) {
      // A new connection each time (reset: Connection: close), so both workers take part.
      const r = await request(`${gw.url}/rr`, { dispatcher: agent, reset: true });
      assert.equal(r.statusCode, 200);
      await r.body.dump();
    }
    const a = rrA.seen.length - before[0]!;
    const b = rrB.seen.length - before[1]!;
    assert.equal(a + b, N);
    assert.ok(a > 0 && b > 0, `both targets got requests (a=${a}, b=${b})`);
    // Each worker alternates on its own: the split is even up to one per worker.
    assert.ok(Math.abs(a - b) <= 2, `even split (a=${a}, b=${b})`);
  });

  test('the gateway still serves, and no worker died', async () => {
    const r = await request(`${gw.url}/n/ok`, { dispatcher: agent });
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'ok\n');
    const died = gw.output.filter((l) => l.includes('worker died'));
    assert.deepEqual(died, [], 'no worker died');
  });
});
