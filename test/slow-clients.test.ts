// Slow clients cannot hold the upstream pool: a small request body is read
// whole before an upstream connection is taken, and one that trickles slower
// than the minimum rate gets 408; a slow reader's answer is held by the
// gateway so the upstream finishes and frees its connection; when every
// connection is busy anyway, a request waits at most poolWaitMs, then 503.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep } from './helpers/wait.js';

const BIG = 8 * 1024 * 1024;
let gw: Gateway;
let up: Upstream;
/** Upstream requests by path, and whether their answer finished (all bytes handed to the socket). */
const finished = new Map<string, boolean>();
let upstreamConnections = 0;

before(async () => {
  up = await startUpstream((req, res) => {
    const path = req.url ?? '';
    finished.set(path, false);
    res.on('finish', () => finished.set(path, true));
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (path.startsWith('/big')) {
        res.writeHead(200, { 'content-length': BIG });
        res.end(Buffer.alloc(BIG, 0x62));
      } else if (path.startsWith('/hold')) {
        setTimeout(() => res.end('held'), 1500);
      } else res.end(`got ${Buffer.concat(chunks).length}`);
    });
  });
  up.server.on('connection', () => upstreamConnections++);
  gw = await startGateway(
    `limits: { requestBodyMinRate: { bytesPerSecond: 200, windowMs: 1000 }, requestBufferBytes: 65536, responseBufferBytes: 16777216 }
upstreams:
  app: { targets: [ { url: "${up.url}" } ] }
  one: { connections: 1, poolWaitMs: 200, targets: [ { url: "${up.url}" } ] }
routes:
  - { name: app, match: { path: "/app/*" }, upstream: app, rewrite: { stripPrefix: /app } }
  - { name: one, match: { path: "/one/*" }, upstream: one, rewrite: { stripPrefix: /one } }
`,
    { workers: 1 },
  );
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(gw.port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

function readAll(s: net.Socket, ms: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    const t = setTimeout(() => resolve({ text, closed: false }), ms);
    s.on('data', (d: Buffer) => (text += d.toString('latin1')));
    s.once('close', () => {
      clearTimeout(t);
      resolve({ text, closed: true });
    });
  });
}

test('a trickling upload: 408 and the connection closed; the upstream never saw it', async () => {
  const before = upstreamConnections;
  const s = await connect();
  s.write('POST /app/echo-slow HTTP/1.1\r\nHost: a\r\nContent-Length: 4096\r\n\r\nabc');
  // Then nothing more: far below 200 B/s over the 1 s window.
  const r = await readAll(s, 8000);
  assert.match(r.text, /^HTTP\/1\.1 408 /, r.text.slice(0, 200));
  assert.match(r.text, /WICKET_ERR_REQUEST_TIMEOUT/);
  assert.ok(r.closed, 'connection closed');
  assert.equal(finished.has('/echo-slow'), false, 'never forwarded');
  assert.equal(upstreamConnections, before, 'no upstream connection was opened for it');
});

test('a small body sent slowly but above the minimum rate is read whole, then forwarded', async () => {
  const s = await connect();
  s.write('POST /app/echo-ok HTTP/1.1\r\nHost: a\r\nContent-Length: 1200\r\nConnection: close\r\n\r\n');
  for (let i = 0; i < 4; i++) {
    s.write(Buffer.alloc(300, 0x61));
    await sleep(250);
  }
  const r = await readAll(s, 5000);
  assert.match(r.text, /^HTTP\/1\.1 200 /, r.text.slice(0, 200));
  assert.ok(r.text.endsWith('got 1200'), r.text.slice(-100));
});

test('a slow reader: the upstream finishes its answer while the client has read nothing; the client then gets every byte', async () => {
  const s = await connect();
  s.pause(); // read nothing yet: the client's receive window fills
  s.write('GET /app/big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
  const deadline = Date.now() + 5000;
  while (finished.get('/big') !== true && Date.now() < deadline) await sleep(20);
  assert.equal(finished.get('/big'), true, 'the upstream handed over the whole answer before the client read it');
  const r = readAll(s, 10_000);
  s.resume();
  const { text } = await r;
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.equal(body.length, BIG);
  assert.ok(/^b+$/.test(body));
});

test('every connection busy for longer than poolWaitMs: 503 WICKET_ERR_UPSTREAM_POOL_EXHAUSTED, not a long queue', async () => {
  const held = fetch(`${gw.url}/one/hold`);
  await sleep(100);
  const r = await fetch(`${gw.url}/one/queued`);
  assert.equal(r.status, 503);
  assert.match(await r.text(), /WICKET_ERR_UPSTREAM_POOL_EXHAUSTED/);
  const first = await held;
  assert.equal(first.status, 200);
  assert.equal(await first.text(), 'held');
});
