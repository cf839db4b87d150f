// Requests counted by the gateway core in shared memory: GET /state
// `counters.requests` and /metrics `wicket_state_requests_total` equal the
// requests sent, exactly, across 2 workers, whatever each answer was
// (proxied, static, 404, 400, 429), over HTTP/1.1 and h2c.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep } from './helpers/wait.js';

const TOKEN = 'request-counts-token-0123456789';
let gw: Gateway;
let up: Upstream;

before(async () => {
  up = await startUpstream((req, res) => {
    req.resume();
    res.end('ok');
  });
  gw = await startGateway(
    `upstreams:
  svc: { targets: [{ url: "${up.url}" }] }
routes:
  - { name: api, match: { path: "/api/*" }, upstream: svc }
  - { name: hello, match: { path: /hello }, respond: { status: 200, body: hi } }
  - name: limited
    match: { path: /limited }
    respond: { status: 200, body: ok }
    rateLimit: { limits: [{ limit: 1, windowMs: 60000, algorithm: fixed-window }] }
`,
    { workers: 2, adminToken: TOKEN, h2c: true },
  );
});

after(async () => {
  await gw?.stop();
  await up?.close();
});

const admin = (path: string) => fetch(`http://127.0.0.1:${gw.adminPort}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });

async function counted(): Promise<{ state: number; metric: number }> {
  const s = (await (await admin('/state')).json()) as { counters: Record<string, number> };
  const text = await (await admin('/metrics')).text();
  const m = /^wicket_state_requests_total (\d+)$/m.exec(text);
  assert.ok(m, text);
  return { state: s.counters.requests!, metric: Number(m[1]) };
}

/** One raw HTTP/1.1 request on its own connection (a malformed one included); resolves once the socket closes or answers. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(gw.port, '127.0.0.1', () => s.write(bytes));
    let out = '';
    s.on('data', (d) => {
      out += d.toString('latin1');
      if (/\r\n\r\n/.test(out)) s.end();
    });
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timeout')));
  });
}

test('GET /state and /metrics count every request exactly, across 2 workers and both listeners', async () => {
  const before = await counted();
  assert.equal(before.state, before.metric);
  let sent = 0;
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) {
    // New connections spread over both workers (SO_REUSEPORT).
    for (const path of ['/api/x', '/hello', '/nope', '/limited']) {
      const r = await fetch(`${gw.url}${path}`, { headers: { connection: 'close' } });
      await r.text();
      statuses.push(r.status);
      sent++;
    }
  }
  assert.ok(statuses.includes(404) && statuses.includes(429), 'answers of every kind were counted');
  const bad = await raw('GET /api/x HTTP/1.1\r\nHost: a\r\nX-Bad: a\x7fb\r\n\r\n');
  assert.match(bad, /^HTTP\/1\.1 400/);
  sent++;
  const session = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
  for (let i = 0; i < 10; i++) {
    await new Promise<void>((resolve, reject) => {
      const s = session.request({ ':path': '/hello' });
      s.resume();
      s.on('end', resolve);
      s.on('error', reject);
    });
    sent++;
  }
  session.close();
  await sleep(100);
  const after = await counted();
  assert.equal(after.state - before.state, sent);
  assert.equal(after.metric - before.metric, sent);
});
