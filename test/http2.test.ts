// The HTTP/2 listeners end to end: h2c (prior knowledge) and TLS (ALPN h2,
// HTTP/1.1 fallback on the same port), through the same routes as HTTP/1.1
// to an HTTP/1.1 upstream; h2load through both with zero errors; a
// rapid-reset flood closed with ENHANCE_YOUR_CALM while another connection
// keeps being served; request bodies and limits; streamed (SSE) responses
// forwarded as they come; and the gateway's own gRPC deadline.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http2, { constants } from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep } from './helpers/wait.js';
import { rssBytes } from './helpers/rss.js';

/** A self-signed certificate for 127.0.0.1 (openssl from Debian). */
function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
}

function h2request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const s = session.request(headers, { endStream: body === undefined });
    let h: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    s.on('response', (r) => (h = r));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve({ status: Number(h[':status']), headers: h, body: Buffer.concat(chunks) }));
    s.on('error', reject);
    if (body !== undefined) s.end(body);
  });
}

/** A command's exit status and output, bounded in time. */
function run(cmd: string, args: string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr });
    });
  });
}

const rssOf = (pid: number): number => rssBytes(pid) ?? 0;

describe('HTTP/2 listeners (2 workers)', { timeout: 120_000 }, () => {
  let up: Upstream;
  let raw: http2.Http2Server;
  let rawPort = 0;
  let gw: Gateway;
  let tls: { cert: string; key: string };
  const rawResets: number[] = [];
  let oddClosed = false;

  before(async () => {
    tls = selfSigned();
    up = await startUpstream((req, res) => {
      if (req.url === '/sse') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        let i = 0;
        const t = setInterval(() => {
          res.write(`data: event ${i}\n\n`);
          if (++i === 3) {
            clearInterval(t);
            res.end();
          }
        }, 300);
        return;
      }
      if (req.url === '/odd') {
        // A status node:http2 cannot send (it takes 200-599 only), and a body that never ends.
        oddClosed = false;
        res.on('close', () => (oddClosed = true));
        res.writeHead(999, { 'content-type': 'text/plain' });
        res.write('x');
        return;
      }
      if (req.url === '/twice') {
        // Fields HTTP/1.1 lets an upstream repeat but node:http2 refuses to send twice.
        res.setHeader('content-type', ['text/plain', 'text/html']);
        res.setHeader('etag', ['"a"', '"b"']);
        res.setHeader('x-many', ['1', '2']);
        res.setHeader('content-encoding', ['gzip', 'br']);
        res.end('twice');
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({ method: req.method, url: req.url, host: req.headers.host, xff: req.headers['x-forwarded-for'], len: Buffer.concat(chunks).length });
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'h1' });
        res.end(body);
      });
    });
    // An HTTP/2 upstream that never answers (for the gateway's own gRPC deadline).
    raw = http2.createServer();
    raw.on('stream', (s) => s.on('close', () => rawResets.push(s.rstCode)));
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    rawPort = (raw.address() as { port: number }).port;
    gw = await startGateway(
      `limits: { http2MaxConcurrentStreams: 64, http2MaxResets: 100, maxBodyBytes: 100000 }
upstreams:
  u: { targets: [ { url: "${up.url}" } ] }
  silent: { protocol: h2, targets: [ { url: "http://127.0.0.1:${rawPort}" } ] }
routes:
  - name: silent
    match: { path: "/silent.Svc/*" }
    upstream: silent
  - name: hello
    match: { path: /hello }
    respond: { status: 200, headers: { content-type: text/plain }, body: "hello\\n" }
  - name: hello-limited
    match: { path: /hello-limited }
    respond: { status: 200, body: "limited hello\\n" }
    rateLimit: { limits: [ { name: rl, limit: 1000, windowMs: 60000, key: [route] } ] }
  - name: api
    match: { path: "/*" }
    upstream: u
`,
      { workers: 2, h2c: true, https: tls },
    );
  });

  after(async () => {
    await gw?.stop();
    await up?.close();
    raw?.close();
  });

  test('h2c: the same routes and proxy as HTTP/1.1 (static reply, proxied GET and POST with a body)', async () => {
    const s = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    try {
      const hello = await h2request(s, { ':path': '/hello' });
      assert.equal(hello.status, 200);
      assert.equal(hello.body.toString(), 'hello\n');
      const get = await h2request(s, { ':path': '/api/x?y=1' });
      assert.equal(get.status, 200);
      assert.equal(get.headers['x-upstream'], 'h1');
      const j = JSON.parse(get.body.toString()) as { url: string; xff: string; method: string };
      assert.deepEqual([j.method, j.url, j.xff], ['GET', '/api/x?y=1', '127.0.0.1']);
      // A body with no content-length (DATA frames) goes upstream chunked.
      const post = await h2request(s, { ':method': 'POST', ':path': '/api/post' }, Buffer.alloc(5000, 7));
      assert.equal((JSON.parse(post.body.toString()) as { len: number }).len, 5000);
      const big = await h2request(s, { ':method': 'POST', ':path': '/api/post' }, Buffer.alloc(200_000, 7));
      assert.equal(big.status, 413);
      const none = await h2request(s, { ':path': '/nothing-here', host: 'other' });
      assert.equal(none.status, 200, 'the catch-all route');
    } finally {
      s.close();
    }
  });

  test('an HTTP/1.1 upstream repeating a single-value field: the first value goes out, other repeats stay, the worker lives', async () => {
    const before = workerPids(gw).sort();
    const s = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    try {
      for (let i = 0; i < 4; i++) {
        const r = await h2request(s, { ':path': '/twice' });
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-type'], 'text/plain');
        assert.equal(r.headers.etag, '"a"');
        assert.equal(r.headers['x-many'], '1, 2', 'a list field keeps every value');
        assert.equal(r.headers['content-encoding'], 'gzip, br', 'a comma list node sends once is joined, not cut');
        assert.equal(r.body.toString(), 'twice');
      }
    } finally {
      s.close();
    }
    assert.deepEqual(workerPids(gw).sort(), before, 'no worker died');
  });

  test('an upstream status HTTP/2 cannot carry: the stream is reset, the upstream request cancelled, the worker lives', async () => {
    const before = workerPids(gw).sort();
    const s = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    s.on('error', () => {});
    try {
      const rst = await new Promise<number>((resolve) => {
        const st = s.request({ ':path': '/odd' });
        st.on('error', () => {});
        st.on('response', () => resolve(-1));
        st.on('close', () => resolve(st.rstCode));
        st.resume();
      });
      assert.equal(rst, constants.NGHTTP2_INTERNAL_ERROR);
      for (let i = 0; i < 50 && !oddClosed; i++) await sleep(100);
      assert.ok(oddClosed, 'the gateway let go of the endless upstream response');
      const ok = await h2request(s, { ':path': '/hello' });
      assert.equal(ok.status, 200);
    } finally {
      s.close();
    }
    assert.deepEqual(workerPids(gw).sort(), before, 'no worker died');
  });

  test('Expect: 100-continue over HTTP/2: the 100 comes before the body is sent', async () => {
    const s = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    try {
      const reply = await new Promise<{ continued: boolean; status: number; body: string }>((resolve, reject) => {
        let continued = false;
        const st = s.request({ ':method': 'POST', ':path': '/api/expect', expect: '100-continue' }, { endStream: false });
        st.on('continue', () => {
          continued = true;
          st.end(Buffer.alloc(3000, 1));
        });
        let status = 0;
        const chunks: Buffer[] = [];
        st.on('response', (h) => (status = Number(h[':status'])));
        st.on('data', (c: Buffer) => chunks.push(c));
        st.on('end', () => resolve({ continued, status, body: Buffer.concat(chunks).toString() }));
        st.on('error', reject);
        st.setTimeout(5000, () => reject(new Error('no 100 Continue within 5 s')));
      });
      assert.equal(reply.continued, true);
      assert.equal(reply.status, 200);
      assert.equal((JSON.parse(reply.body) as { len: number }).len, 3000);
    } finally {
      s.close();
    }
  });

  test('a static reply with rate-limit headers carries each header once', async () => {
    const s = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    try {
      const r = await h2request(s, { ':path': '/hello-limited' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['ratelimit-policy'], '"rl";q=1000;w=60');
      assert.match(String(r.headers.ratelimit), /^"rl";r=\d+;t=\d+$/);
    } finally {
      s.close();
    }
  });

  test('limits: SETTINGS carry max concurrent streams and header list size; an oversized header list resets only its stream', async () => {
    const s = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    try {
      const settings = await new Promise<http2.Settings>((r) => s.once('remoteSettings', r));
      assert.equal(settings.maxConcurrentStreams, 64);
      assert.equal(settings.maxHeaderListSize, 16384);
      const code = await new Promise<number>((resolve) => {
        const st = s.request({ ':path': '/hello', 'x-big': 'a'.repeat(17_000) });
        st.on('error', () => {});
        st.on('close', () => resolve(st.rstCode));
        st.resume();
      });
      // nghttp2 refuses the header block before it reaches the gateway: no 431 possible, a stream reset.
      assert.equal(code, constants.NGHTTP2_ENHANCE_YOUR_CALM);
      assert.equal((await h2request(s, { ':path': '/hello' })).status, 200, 'the connection is still usable');
    } finally {
      s.close();
    }
  });

  test('TLS: ALPN h2, and HTTP/1.1 on the same port', async () => {
    const ca = readFileSync(tls.cert);
    const s = http2.connect(`https://127.0.0.1:${gw.httpsPort}`, { ca });
    try {
      const r = await h2request(s, { ':path': '/hello' });
      assert.equal(r.status, 200);
      assert.equal(s.alpnProtocol, 'h2');
    } finally {
      s.close();
    }
    const h1 = await new Promise<{ status: number; body: string; version: string }>((resolve, reject) => {
      const req = https.get({ host: '127.0.0.1', port: gw.httpsPort, path: '/api/h1', ca } as https.RequestOptions, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, version: res.httpVersion }));
      });
      req.on('error', reject);
    });
    assert.equal(h1.status, 200);
    assert.equal(h1.version, '1.1');
    assert.equal((JSON.parse(h1.body) as { url: string }).url, '/api/h1');
  });

  test('h2load through h2c and TLS: every request succeeds', async () => {
    for (const url of [`http://127.0.0.1:${gw.h2cPort}/api/load`, `https://127.0.0.1:${gw.httpsPort}/api/load`]) {
      // -T: h2load's own bound on a stalled connection, inside the whole run's bound.
      // Not spawnSync: the upstream lives in this process and must keep answering.
      const r = await run('h2load', ['-n', '2000', '-c', '8', '-m', '16', '-T', '10', url], 30_000);
      assert.equal(r.status, 0, `${url}: ${r.stderr}\n${r.stdout}`);
      const m = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(r.stdout);
      assert.ok(m, r.stdout);
      assert.deepEqual([m[1], m[3], m[4], m[5]], ['2000', '2000', '0', '0'], `${url}\n${r.stdout}`);
      assert.match(r.stdout, /status codes: 2000 2xx/);
    }
  });

  test('rapid reset: the flooding connection gets GOAWAY(ENHANCE_YOUR_CALM); others keep being served; memory bounded', async () => {
    const pids = workerPids(gw);
    const before = pids.map(rssOf);
    const bystander = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    await h2request(bystander, { ':path': '/hello' });
    const flood = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    const goaway = new Promise<number>((resolve) => flood.on('goaway', (code: number) => resolve(code)));
    flood.on('error', () => {});
    let opened = 0;
    const stop = Date.now() + 5000;
    // Open and at once reset streams, as fast as the session allows, until the gateway says stop.
    let gotGoaway = false;
    void goaway.then(() => (gotGoaway = true));
    while (!gotGoaway && !flood.destroyed && Date.now() < stop) {
      for (let i = 0; i < 50 && !flood.destroyed && !flood.closed; i++) {
        try {
          const st = flood.request({ ':path': '/api/slow' });
          st.on('error', () => {});
          st.close(constants.NGHTTP2_CANCEL);
          opened++;
        } catch {
          break;
        }
      }
      await sleep(1);
    }
    assert.equal(await Promise.race([goaway, sleep(3000).then(() => -1)]), constants.NGHTTP2_ENHANCE_YOUR_CALM, `after ${opened} reset streams`);
    // The other connection was not affected.
    const t0 = performance.now();
    const r = await h2request(bystander, { ':path': '/hello' });
    assert.equal(r.status, 200);
    assert.ok(performance.now() - t0 < 1000);
    bystander.close();
    flood.destroy();
    const grown = pids.map((p, i) => rssOf(p) - before[i]!);
    assert.ok(Math.max(...grown) < 32 * 1024 * 1024, `worker RSS grew ${grown.map((g) => (g / 1048576).toFixed(1)).join(', ')} MiB`);
  });

  test('a streamed (SSE) response reaches an HTTP/2 client event by event', async () => {
    const s = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    try {
      const arrivals: number[] = [];
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const st = s.request({ ':path': '/sse' });
        st.on('response', (h) => assert.equal(h['content-type'], 'text/event-stream'));
        st.on('data', (c: Buffer) => {
          for (const _ of c.toString().matchAll(/data: event/g)) arrivals.push(performance.now() - t0);
        });
        st.on('end', resolve);
        st.on('error', reject);
      });
      assert.equal(arrivals.length, 3);
      // 300 ms apart at the upstream: each one forwarded when it came, not all at the end.
      assert.ok(arrivals[1]! - arrivals[0]! > 150 && arrivals[2]! - arrivals[1]! > 150, `arrivals at ${arrivals.map((a) => a.toFixed(0)).join(', ')} ms`);
    } finally {
      s.close();
    }
  });

  test("gRPC: the gateway enforces grpc-timeout itself (DEADLINE_EXCEEDED) and cancels the upstream stream", async () => {
    const s = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
    try {
      const t0 = performance.now();
      const r = await new Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }>((resolve, reject) => {
        const st = s.request({ ':method': 'POST', ':path': '/silent.Svc/Wait', 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': '200m' });
        let headers: http2.IncomingHttpHeaders = {};
        st.on('response', (h) => (headers = h));
        st.on('trailers', (t) => resolve({ headers, trailers: t }));
        st.on('end', () => resolve({ headers, trailers: {} }));
        st.on('error', reject);
        st.end(Buffer.from([0, 0, 0, 0, 0]));
        st.resume();
      });
      const took = performance.now() - t0;
      const status = r.trailers['grpc-status'] ?? r.headers['grpc-status'];
      assert.equal(status, '4', JSON.stringify(r));
      assert.ok(took >= 180 && took < 2000, `${took} ms`);
      await sleep(100);
      assert.ok(rawResets.includes(constants.NGHTTP2_CANCEL), `upstream stream reset with CANCEL (${rawResets.join(',')})`);
    } finally {
      s.close();
    }
  });
});
