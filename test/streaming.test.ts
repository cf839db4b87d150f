// Streaming through the gateway, both directions: large bodies arrive whole
// and byte-exact, the worker never buffers a whole body (its RSS is sampled
// from /proc during each transfer), backpressure reaches the upstream, client
// aborts reach the upstream, and bodiless responses keep their framing.
// One worker, so the process whose RSS is sampled is the one that serves.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { MB, rssBytes, sampleRss, waitWorkers } from './helpers/rss.js';
import { sleep, until } from './helpers/wait.js';

const CHUNK = 64 * 1024;
const BIG = 100 * MB;
const SLOW = 50 * MB;
/**
 * Allowed RSS growth of the worker over its pre-transfer baseline while 100 MB
 * passes. Not 60 MB: the worker copies every uWS body chunk into a fresh
 * Buffer, and V8 reclaims those only when its external-memory trigger (about
 * 64 MB allocated since the last full GC) fires, so up to ~60 MB of garbage is
 * resident on a healthy first transfer (measured here: +25..61 MB, flat over
 * repeated transfers). Whole-body buffering would be over +100 MB.
 */
const RSS_HEADROOM = 80 * MB;
/**
 * Bytes one side may be ahead of the other (client produced vs upstream
 * received, upstream written vs client received): kernel socket buffers on
 * both legs plus the gateway's own. Store-and-forward would reach the whole
 * 100 MB.
 */
const MAX_IN_FLIGHT = 40 * MB;

// Deterministic content: chunk i is BASE with i written in its first 4 bytes,
// so a dropped, repeated or reordered chunk changes the hash.
const BASE = randomBytes(CHUNK);
function chunkAt(i: number, size: number): Buffer {
  const len = Math.min(CHUNK, size - i * CHUNK);
  const b = Buffer.allocUnsafe(len);
  BASE.copy(b, 0, 0, len);
  if (len >= 4) b.writeUInt32BE(i, 0);
  return b;
}
const hashes = new Map<number, string>();
function patternHash(size: number): string {
  let h = hashes.get(size);
  if (h === undefined) {
    const hash = createHash('sha256');
    for (let i = 0; i * CHUNK < size; i++) hash.update(chunkAt(i, size));
    h = hash.digest('hex');
    hashes.set(size, h);
  }
  return h;
}

/** A client body: `size` bytes of the pattern, produced only as fast as it is read (counted in `s.produced`). */
function patternStream(size: number, s: Seen): Readable {
  let i = 0;
  return new Readable({
    highWaterMark: CHUNK,
    read() {
      if (i * CHUNK < size) {
        const c = chunkAt(i++, size);
        s.produced += c.length;
        this.push(c);
      } else this.push(null);
    },
  });
}

/** A bound on a wait that must not keep the process alive. */
const bound = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/**
 * For failure messages: loopback TCP sockets touching `ports`, with their
 * kernel queues (/proc/net/tcp: tx = unsent/unacked, rx = unread), to tell
 * who holds the bytes when a transfer stalls.
 */
function socketQueues(ports: number[]): string {
  const want = new Set(ports);
  const out: string[] = [];
  try {
    for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 5) continue;
      const lp = parseInt(f[1]!.split(':')[1]!, 16);
      const rp = parseInt(f[2]!.split(':')[1]!, 16);
      if (!want.has(lp) && !want.has(rp)) continue;
      const [tx, rx] = f[4]!.split(':').map((h) => parseInt(h, 16));
      out.push(`${lp}->${rp} st=${f[3]} tx=${tx} rx=${rx}`);
    }
  } catch {
    return '(no /proc/net/tcp)';
  }
  return out.join('; ');
}

/** Resolves with `p`, or rejects after `ms` naming `what`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<never>((_, rej) => {
      t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}


interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** What the upstream saw of one exchange, keyed by the `id` query parameter. */
interface Seen {
  written: number;
  sawBackpressure: boolean;
  finished: boolean;
  /** The request/response closed before the upstream finished it. */
  closedEarly: boolean;
  closed: Deferred;
  received: number;
  /** Upload: bytes the client body stream has produced so far. */
  produced: number;
  /** Largest (produced - received) seen by the upstream: bytes held between client and upstream. */
  maxAhead: number;
  /** Upload: client bytes produced when the upstream saw its first body byte (-1: not yet). */
  producedAtFirstByte: number;
  /** /held/hold: released by the test. */
  release: Deferred;
  started: Deferred;
  /** SSE: the client has the first event. */
  clientHasFirst: Deferred;
  clientHadFirstBeforeSecond: boolean | null;
}
const seen = new Map<string, Seen>();
function seenFor(id: string): Seen {
  let s = seen.get(id);
  if (s === undefined) {
    s = { written: 0, sawBackpressure: false, finished: false, closedEarly: false, closed: deferred(), received: 0, produced: 0, maxAhead: 0, producedAtFirstByte: -1, release: deferred(), started: deferred(), clientHasFirst: deferred(), clientHadFirstBeforeSecond: null };
    seen.set(id, s);
  }
  return s;
}
let nextId = 0;
const newId = () => `t${++nextId}`;

/** Resolves on 'drain', or on 'close' (then the caller sees res.destroyed). */
function drainOrClose(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes `size` pattern bytes honouring backpressure, with or without Content-Length. */
async function writePattern(res: http.ServerResponse, size: number, withLength: boolean, s: Seen): Promise<void> {
  res.writeHead(200, withLength ? { 'content-type': 'application/octet-stream', 'content-length': size } : { 'content-type': 'application/octet-stream' });
  for (let i = 0; i * CHUNK < size; i++) {
    if (res.destroyed) return;
    const c = chunkAt(i, size);
    s.written += c.length;
    if (!res.write(c)) {
      s.sawBackpressure = true;
      await drainOrClose(res);
    }
  }
  if (!res.destroyed) res.end();
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  const id = url.searchParams.get('id') ?? '';
  const s = seenFor(id);
  const size = Number(url.searchParams.get('size') ?? '0');
  res.on('finish', () => (s.finished = true));
  res.on('close', () => {
    if (!res.writableFinished) s.closedEarly = true;
    s.closed.resolve();
  });
  switch (url.pathname) {
    case '/upload': {
      const hash = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        if (n === 0) s.producedAtFirstByte = s.produced;
        n += c.length;
        hash.update(c);
        if (s.produced - n > s.maxAhead) s.maxAhead = s.produced - n;
      });
      req.on('end', () => {
        const body = JSON.stringify({
          bytes: n,
          sha256: hash.digest('hex'),
          contentLength: req.headers['content-length'] ?? null,
          transferEncoding: req.headers['transfer-encoding'] ?? null,
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    case '/upload-abort': {
      req.on('data', (c: Buffer) => (s.received += c.length));
      req.on('end', () => res.end('complete\n'));
      req.on('aborted', () => (s.closedEarly = true));
      req.on('close', () => {
        if (!req.complete) s.closedEarly = true;
        s.closed.resolve();
      });
      return;
    }
    case '/download':
      void writePattern(res, size, url.searchParams.get('cl') === '1', s);
      return;
    case '/forever': {
      // Streams until the client goes away, bounded at 10 s.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const stopAt = Date.now() + 10_000;
      void (async () => {
        for (let i = 0; !res.destroyed && Date.now() < stopAt; i++) {
          s.written += CHUNK;
          if (!res.write(chunkAt(i % 1000, 1000 * CHUNK))) await drainOrClose(res);
          else await sleep(5);
        }
        if (!res.destroyed) res.end();
      })();
      return;
    }
    case '/sse': {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('data: one\n\n');
      let released = false;
      void s.clientHasFirst.promise.then(() => (released = true));
      void (async () => {
        await sleep(300);
        // Give the client a bounded while to report the first event; if it
        // has not by then, the gateway is holding the event back.
        await Promise.race([s.clientHasFirst.promise, bound(5_000)]);
        s.clientHadFirstBeforeSecond = released;
        res.end('data: two\n\n');
      })();
      return;
    }
    case '/head':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1234, 'x-head': 'yes' });
      res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
      return;
    case '/no-content':
      res.writeHead(204, { 'x-kind': 'no-content' });
      res.end();
      return;
    case '/not-modified':
      res.writeHead(304, { etag: '"v1"', 'cache-control': 'max-age=60' });
      res.end();
      return;
    case '/empty':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 0, 'x-kind': 'empty' });
      res.end();
      return;
    case '/chunked':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('alpha,');
      setTimeout(() => {
        res.write('beta,');
        setTimeout(() => res.end('gamma'), 20);
      }, 20);
      return;
    case '/held/hold':
      // Holds the only connection of the `held` pool until the test releases it (bounded).
      s.started.resolve();
      void Promise.race([s.release.promise, bound(10_000)]).then(() => res.end('released\n'));
      return;
    case '/held/upload': {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`bytes=${n}`));
      return;
    }
    case '/ok':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
      res.end('ok\n');
      return;
  }
  res.writeHead(404);
  res.end();
}

let up: Upstream;
let gw: Gateway;
let worker: number;
let agent: Agent;

before(async () => {
  for (const size of [BIG, SLOW]) patternHash(size);
  up = await startUpstream(handler);
  gw = await startGateway(
    `upstreams:
  up:
    targets: [{ url: "${up.url}" }]
  held:
    connections: 1
    targets: [{ url: "${up.url}" }]
routes:
  - name: held
    match: { path: "/held/*" }
    upstream: held
  - name: all
    match: { path: "/*" }
    upstream: up
    maxBodyBytes: ${200 * MB}
`,
    { workers: 1 },
  );
  [worker] = await waitWorkers(gw.proc.pid!, 1);
  agent = new Agent({ connections: 4, bodyTimeout: 60_000, headersTimeout: 60_000 });
  // Warm the path (pools, JIT) so the baseline below is the steady state.
  for (let i = 0; i < 5; i++) {
    const r = await request(`${gw.url}/ok`, { dispatcher: agent });
    await r.body.text();
  }
});

after(async () => {
  await agent?.close();
  await gw?.stop();
  await up?.close();
});

/** Runs `fn` while sampling the worker's RSS every 20 ms; asserts growth stays under RSS_HEADROOM. */
async function boundedRss<T>(t: TestContext, what: string, fn: () => Promise<T>): Promise<T> {
  const baseline = rssBytes(worker);
  assert.ok(baseline !== null, 'worker is alive');
  const sampler = sampleRss(worker, 20);
  let out: T;
  try {
    out = await fn();
  } finally {
    sampler.stop();
  }
  const growth = sampler.peak - baseline;
  t.diagnostic(`worker RSS baseline ${(baseline / MB).toFixed(1)} MB, peak ${(sampler.peak / MB).toFixed(1)} MB (+${(growth / MB).toFixed(1)} MB), ${sampler.samples} samples`);
  assert.ok(
    growth < RSS_HEADROOM,
    `${what}: worker RSS grew ${(growth / MB).toFixed(1)} MB over baseline ${(baseline / MB).toFixed(1)} MB (limit ${RSS_HEADROOM / MB} MB)`,
  );
  return out;
}

async function hashBody(body: AsyncIterable<Buffer | Uint8Array>, onChunk?: (bytesSoFar: number) => void): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const c of body) {
    bytes += c.length;
    hash.update(c);
    onChunk?.(bytes);
  }
  return { bytes, sha256: hash.digest('hex') };
}

describe('streaming request bodies (100 MB upload)', { timeout: 120_000 }, () => {
  for (const mode of ['content-length', 'chunked'] as const) {
    test(`upload with ${mode}: upstream gets every byte, worker does not buffer`, { timeout: 90_000 }, async (t) => {
      const id = newId();
      const s = seenFor(id);
      const result = await boundedRss(t, `upload (${mode})`, async () => {
        const r = await request(`${gw.url}/upload?id=${id}`, {
          dispatcher: agent,
          method: 'POST',
          headers: mode === 'content-length' ? { 'content-type': 'application/octet-stream', 'content-length': String(BIG) } : { 'content-type': 'application/octet-stream' },
          body: patternStream(BIG, s),
        });
        assert.equal(r.statusCode, 200);
        return (await r.body.json()) as { bytes: number; sha256: string; contentLength: string | null; transferEncoding: string | null };
      });
      assert.equal(result.bytes, BIG);
      assert.equal(result.sha256, patternHash(BIG));
      if (mode === 'content-length') assert.equal(result.contentLength, String(BIG));
      else assert.equal(result.transferEncoding, 'chunked');
      t.diagnostic(`client had produced ${(s.producedAtFirstByte / MB).toFixed(1)} MB when the upstream got its first byte; most held in between ${(s.maxAhead / MB).toFixed(1)} MB`);
      assert.ok(s.producedAtFirstByte >= 0 && s.producedAtFirstByte < MAX_IN_FLIGHT, `the upstream got the first body byte while the client had produced ${s.producedAtFirstByte} bytes (streaming, not store-and-forward)`);
      assert.ok(s.maxAhead < MAX_IN_FLIGHT, `at most ${(s.maxAhead / MB).toFixed(1)} MB held between client and upstream`);
    });
  }
});

describe('streaming response bodies (100 MB download)', { timeout: 120_000 }, () => {
  for (const withLength of [true, false]) {
    test(`download ${withLength ? 'with Content-Length' : 'chunked'}: client gets every byte, worker does not buffer`, { timeout: 90_000 }, async (t) => {
      const id = newId();
      const s = seenFor(id);
      let maxAhead = 0;
      const got = await boundedRss(t, `download (${withLength ? 'content-length' : 'chunked'})`, async () => {
        const r = await request(`${gw.url}/download?id=${id}&size=${BIG}&cl=${withLength ? 1 : 0}`, { dispatcher: agent });
        if (r.statusCode !== 200) {
          const text = await r.body.text().catch(() => '');
          assert.fail(`status ${r.statusCode} (${text}); upstream wrote ${s.written}; sockets: ${socketQueues([gw.port, up.port])}`);
        }
        if (withLength) {
          assert.equal(r.headers['content-length'], String(BIG));
          assert.equal(r.headers['transfer-encoding'], undefined);
        } else {
          assert.equal(r.headers['transfer-encoding'], 'chunked');
          assert.equal(r.headers['content-length'], undefined);
        }
        return hashBody(r.body, (bytes) => {
          if (s.written - bytes > maxAhead) maxAhead = s.written - bytes;
        });
      });
      t.diagnostic(`most held between upstream and client: ${(maxAhead / MB).toFixed(1)} MB`);
      assert.ok(maxAhead < MAX_IN_FLIGHT, `at most ${(maxAhead / MB).toFixed(1)} MB held between upstream and client (streaming, not store-and-forward)`);
      assert.equal(got.bytes, BIG);
      assert.equal(got.sha256, patternHash(BIG));
    });
  }
});

describe('backpressure and aborts', { timeout: 120_000 }, () => {
  test('slow reader: backpressure reaches the upstream, RSS stays bounded, every byte arrives', { timeout: 60_000 }, async (t) => {
    const id = newId();
    const s = seenFor(id);
    const got = await boundedRss(t, 'slow reader', async () => {
      const res = await within(
        new Promise<http.IncomingMessage>((resolve, reject) => {
          const req = http.get({ host: '127.0.0.1', port: gw.port, path: `/download?id=${id}&size=${SLOW}&cl=1`, agent: false }, resolve);
          req.on('error', reject);
        }),
        10_000,
        'response headers',
      );
      assert.equal(res.statusCode, 200);
      res.pause(); // node's client stops reading the socket once its small buffer fills
      // Not reading: the upstream must be told to stop (write() -> false) and
      // must stop well short of the whole body. Wait (bounded) until its
      // writes stall: no progress for 500 ms.
      const deadline = Date.now() + 8_000;
      let last = -1;
      let stableSince = Date.now();
      while (Date.now() < deadline) {
        await sleep(100);
        if (s.written !== last) {
          last = s.written;
          stableSince = Date.now();
        } else if (s.sawBackpressure && Date.now() - stableSince >= 500) break;
      }
      assert.ok(s.sawBackpressure, 'the upstream saw res.write() return false while the client was not reading');
      assert.ok(s.written < SLOW, `the upstream stalled at ${(s.written / MB).toFixed(1)} MB of ${SLOW / MB} MB while the client was paused`);
      assert.equal(s.finished, false, 'the upstream did not finish while the client was paused');
      // Now read the rest.
      return within(hashBody(res), 30_000, 'reading the rest of the body');
    });
    assert.equal(got.bytes, SLOW);
    assert.equal(got.sha256, patternHash(SLOW));
    assert.equal(s.finished, true);
  });

  test('client aborts mid-response: the upstream request is closed', { timeout: 30_000 }, async () => {
    const id = newId();
    const s = seenFor(id);
    let received = 0;
    let status = 0;
    const gotSome = deferred();
    const req = http.get({ host: '127.0.0.1', port: gw.port, path: `/forever?id=${id}`, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      res.on('data', (c: Buffer) => {
        received += c.length;
        if (received >= 4 * CHUNK) gotSome.resolve();
      });
      res.on('error', () => {});
    });
    req.on('error', () => {});
    await within(gotSome.promise, 10_000, 'first chunks of the endless response').catch((err: Error) => {
      throw new Error(
        `${err.message} (status ${status}, ${received} bytes received, upstream wrote ${s.written}, upstream closed early: ${s.closedEarly}; sockets: ${socketQueues([gw.port, up.port])})`,
      );
    });
    assert.equal(status, 200);
    req.destroy();
    await within(s.closed.promise, 5_000, 'upstream response closed after the client went away');
    assert.equal(s.closedEarly, true, 'upstream response closed before it finished');
    assert.equal(s.finished, false);
  });

  for (const mode of ['content-length', 'chunked'] as const) {
    test(`client aborts mid-upload (${mode}): the upstream sees the request aborted`, { timeout: 30_000 }, async () => {
      const id = newId();
      const s = seenFor(id);
      const sock = net.connect(gw.port, '127.0.0.1');
      sock.on('error', () => {});
      await within(new Promise<void>((r) => sock.once('connect', () => r())), 5_000, 'connect');
      const framing = mode === 'content-length' ? `Content-Length: ${10 * MB}\r\n` : 'Transfer-Encoding: chunked\r\n';
      sock.write(`POST /upload-abort?id=${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n${framing}\r\n`);
      const piece = chunkAt(1, 2 * CHUNK);
      for (let i = 0; i < 16; i++) sock.write(mode === 'chunked' ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece);
      assert.ok(await until(() => s.received > 0, 10_000), 'the upstream started receiving the body');
      sock.destroy();
      await within(s.closed.promise, 5_000, 'upstream request closed after the client went away');
      assert.equal(s.closedEarly, true, 'the upstream request ended incomplete (aborted)');
      assert.ok(s.received < 10 * MB);
      assert.equal(s.finished, false);
    });
  }

  test('a chunked upload whose end arrives while the gateway paused the client socket leaves the connection usable', { timeout: 30_000 }, async () => {
    // The `held` pool has one connection, held open by /held/hold: the upload
    // is queued in undici and its body is not read, so the gateway buffers it
    // and pauses the client socket once its body buffer (256 KB high-water
    // mark in body.ts) is full. The last data chunk and the terminating
    // 0-chunk arrive in the same read, right when that happens.
    const holdId = newId();
    const hold = seenFor(holdId);
    const holdReq = http.get({ host: '127.0.0.1', port: gw.port, path: `/held/hold?id=${holdId}`, agent: false }, (res) => res.resume());
    holdReq.on('error', () => {});
    await within(hold.started.promise, 10_000, 'the hold request reached the upstream');

    const sock = net.connect(gw.port, '127.0.0.1');
    let buf = '';
    let closed = false;
    sock.on('data', (c: Buffer) => (buf += c.toString('latin1')));
    sock.on('close', () => (closed = true));
    sock.on('error', () => {});
    try {
      await within(new Promise<void>((r) => sock.once('connect', () => r())), 5_000, 'connect');
      const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]);
      // 255 KB first: just under the body buffer's high-water mark.
      const first: Buffer[] = [Buffer.from('POST /held/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n')];
      for (let i = 0; i < 3; i++) first.push(chunk(chunkAt(i, 4 * CHUNK)));
      first.push(chunk(chunkAt(3, 4 * CHUNK).subarray(0, CHUNK - 1024)));
      sock.write(Buffer.concat(first));
      await sleep(300);
      // Then 2 KB (crossing the mark) and the end of the body, in one small segment.
      sock.write(Buffer.concat([chunk(Buffer.alloc(2048, 0x61)), Buffer.from('0\r\n\r\n')]));
      await sleep(200);
      hold.release.resolve();
      const total = 3 * CHUNK + (CHUNK - 1024) + 2048;
      assert.ok(await until(() => buf.includes(`bytes=${total}`) || closed, 10_000), `the upload was answered: ${JSON.stringify(buf.slice(0, 300))}`);
      assert.ok(buf.includes(`bytes=${total}`), `the upstream got the whole body: ${JSON.stringify(buf.slice(-200))}`);
      // Same connection, next request.
      buf = '';
      sock.write('GET /ok HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      const answered = await until(() => buf.includes('\r\n\r\nok\n') || closed, 5_000);
      assert.ok(
        answered && !closed,
        `the next request on the keep-alive connection was ${closed ? 'dropped (connection closed)' : 'never read (no response in 5 s: the client socket stayed paused)'}`,
      );
    } finally {
      sock.destroy();
      hold.release.resolve();
      holdReq.destroy();
    }
  });

  test('SSE-style stream: the first event reaches the client before the second is written', { timeout: 30_000 }, async () => {
    const id = newId();
    const s = seenFor(id);
    const r = await request(`${gw.url}/sse?id=${id}`, { dispatcher: agent });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'text/event-stream');
    let text = '';
    for await (const c of r.body) {
      text += Buffer.from(c).toString();
      if (text.includes('data: one\n\n')) s.clientHasFirst.resolve();
    }
    assert.equal(text, 'data: one\n\ndata: two\n\n');
    assert.equal(s.clientHadFirstBeforeSecond, true, 'the gateway held the first event back until the upstream wrote more');
  });
});

/**
 * One keep-alive connection: sends each request after the previous response
 * went quiet (`idleMs` without bytes), returns what came back for each.
 */
async function rawSequence(port: number, requests: string[], idleMs = 400): Promise<{ responses: string[]; closed: boolean }> {
  const sock = net.connect(port, '127.0.0.1');
  let buf = '';
  let closed = false;
  let lastData = Date.now();
  sock.on('data', (c: Buffer) => {
    buf += c.toString('latin1');
    lastData = Date.now();
  });
  sock.on('close', () => (closed = true));
  sock.on('error', () => {});
  await within(new Promise<void>((r) => sock.once('connect', () => r())), 5_000, 'connect');
  const responses: string[] = [];
  for (const rq of requests) {
    buf = '';
    sock.write(rq);
    await until(() => buf.length > 0 || closed, 5_000);
    await until(() => closed || Date.now() - lastData >= idleMs, 5_000);
    responses.push(buf);
    if (closed) break;
  }
  sock.destroy();
  return { responses, closed };
}

function splitResponse(text: string): { status: number; headers: Map<string, string[]>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `a complete response head: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map<string, string[]>();
  for (const l of lines) {
    const i = l.indexOf(':');
    const k = l.slice(0, i).trim().toLowerCase();
    headers.set(k, [...(headers.get(k) ?? []), l.slice(i + 1).trim()]);
  }
  return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
}

const GET = (path: string, method = 'GET') => `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;

describe('bodiless and small responses keep their framing', { timeout: 60_000 }, () => {
  test('HEAD: headers of the GET (Content-Length 1234), no body, connection reusable', async () => {
    const { responses, closed } = await rawSequence(gw.port, [GET('/head', 'HEAD'), GET('/ok')]);
    const head = splitResponse(responses[0]!);
    assert.equal(head.status, 200);
    assert.deepEqual(head.headers.get('content-length'), ['1234']);
    assert.deepEqual(head.headers.get('x-head'), ['yes']);
    assert.deepEqual(head.headers.get('content-type'), ['text/plain']);
    assert.equal(head.headers.get('transfer-encoding'), undefined);
    assert.equal(head.body, '', 'no body after a HEAD response');
    assert.ok(
      (responses[1] ?? '') !== '',
      `the GET after the HEAD on the same keep-alive connection got no response (connection ${closed ? 'closed by the gateway' : 'silent'})`,
    );
    const next = splitResponse(responses[1] ?? '');
    assert.equal(next.status, 200);
    assert.equal(next.body, 'ok\n');

    // A real keep-alive client: HEAD, then GET on the same connection.
    const one = new Agent({ connections: 1, pipelining: 1 });
    try {
      const r = await request(`${gw.url}/head`, { method: 'HEAD', dispatcher: one });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-length'], '1234');
      assert.equal(await r.body.text(), '');
      const r2 = await request(`${gw.url}/ok`, { dispatcher: one });
      assert.equal(r2.statusCode, 200);
      assert.equal(await r2.body.text(), 'ok\n');
    } finally {
      await one.destroy();
    }
  });

  test('204: no body, no Content-Length / Transfer-Encoding, upstream headers kept, connection reusable', async () => {
    const { responses } = await rawSequence(gw.port, [GET('/no-content'), GET('/ok')]);
    const res = splitResponse(responses[0]!);
    assert.equal(res.status, 204);
    assert.deepEqual(res.headers.get('x-kind'), ['no-content']);
    assert.equal(res.headers.get('transfer-encoding'), undefined);
    assert.equal(res.headers.get('content-length'), undefined, 'a 204 carries no Content-Length (RFC 9110 §8.6)');
    assert.equal(res.body, '');
    const next = splitResponse(responses[1] ?? '');
    assert.equal(next.status, 200);
    assert.equal(next.body, 'ok\n');
  });

  test('304: no body, ETag and Cache-Control kept, connection reusable', async () => {
    const { responses } = await rawSequence(gw.port, [`GET /not-modified HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-None-Match: "v1"\r\n\r\n`, GET('/ok')]);
    const res = splitResponse(responses[0]!);
    assert.equal(res.status, 304);
    assert.deepEqual(res.headers.get('etag'), ['"v1"']);
    assert.deepEqual(res.headers.get('cache-control'), ['max-age=60']);
    assert.equal(res.headers.get('transfer-encoding'), undefined);
    assert.equal(res.body, '');
    const next = splitResponse(responses[1] ?? '');
    assert.equal(next.status, 200);
    assert.equal(next.body, 'ok\n');
  });

  test('Content-Length: 0 response: empty body, length 0, connection reusable', async () => {
    const { responses } = await rawSequence(gw.port, [GET('/empty'), GET('/ok')]);
    const res = splitResponse(responses[0]!);
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers.get('content-length'), ['0']);
    assert.deepEqual(res.headers.get('x-kind'), ['empty']);
    assert.equal(res.headers.get('transfer-encoding'), undefined);
    assert.equal(res.body, '');
    const next = splitResponse(responses[1] ?? '');
    assert.equal(next.status, 200);
    assert.equal(next.body, 'ok\n');
  });

  test('chunked upstream response arrives chunked and complete', async () => {
    const r = await request(`${gw.url}/chunked`, { dispatcher: agent });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(await r.body.text(), 'alpha,beta,gamma');

    const { responses } = await rawSequence(gw.port, [GET('/chunked'), GET('/ok')]);
    const raw = splitResponse(responses[0]!);
    assert.deepEqual(raw.headers.get('transfer-encoding'), ['chunked']);
    assert.ok(raw.body.endsWith('0\r\n\r\n'), `terminated chunked body: ${JSON.stringify(raw.body)}`);
    const next = splitResponse(responses[1] ?? '');
    assert.equal(next.body, 'ok\n');
  });

  test('the worker never died', () => {
    const died = gw.output.filter((l) => l.includes('worker died'));
    assert.deepEqual(died, []);
  });
});
