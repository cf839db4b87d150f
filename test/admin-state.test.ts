// Admin read-outs of the shared state and the target switch: GET /upstreams
// (targets with health, in-flight, latency, counts), GET /state (gateway-wide
// counters), POST /upstreams/NAME/targets/INDEX/disable|enable, which takes a
// target out of rotation for every worker at once. All behind the token.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep } from './helpers/wait.js';
import type { TargetView, UpstreamView } from './helpers/admin-view.js';

const TOKEN = 'admin-state-token-0123456789';
let gw: Gateway;
let a: Upstream;
let b: Upstream;


const answer = (name: string): http.RequestListener => (req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': name.length });
  res.end(name);
};

before(async () => {
  a = await startUpstream(answer('a'));
  b = await startUpstream(answer('b'));
  gw = await startGateway(
    `upstreams:
  svc:
    balancer: round-robin
    targets: [{ url: "${a.url}" }, { url: "${b.url}" }]
  guarded:
    circuitBreaker: { consecutiveFailures: 3 }
    targets: [{ url: "${a.url}" }]
routes:
  - { name: svc, match: { path: "/svc/*" }, upstream: svc }
  - { name: guarded, match: { path: "/guarded/*" }, upstream: guarded }
`,
    { workers: 2, adminToken: TOKEN },
  );
});

after(async () => {
  await gw?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

const admin = (path: string, o: { method?: string; token?: string | null } = {}) =>
  fetch(`http://127.0.0.1:${gw.adminPort}${path}`, {
    method: o.method ?? 'GET',
    headers: o.token === null ? {} : { authorization: `Bearer ${o.token ?? TOKEN}` },
  });

async function view(): Promise<Map<string, UpstreamView>> {
  const r = await admin('/upstreams');
  assert.equal(r.status, 200);
  const body = (await r.json()) as { configVersion: number; upstreams: UpstreamView[] };
  assert.equal(typeof body.configVersion, 'number');
  return new Map(body.upstreams.map((u) => [u.name, u]));
}

async function svc(): Promise<TargetView[]> {
  const u = (await view()).get('svc');
  assert.ok(u);
  return u.targets;
}

/** One GET through the gateway on a new connection (either worker may take it). */
function get(path: string): Promise<{ status: number; body: string; requestId: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: gw.port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, requestId: String(res.headers['x-request-id'] ?? '') }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error('no answer in 20 s')));
    req.on('error', reject);
  });
}

async function workerPids(): Promise<string[]> {
  const r = await admin('/workers');
  const body = (await r.json()) as { workers: { pid: number }[] };
  return body.workers.map((w) => w.pid.toString(36));
}

/** Which worker sent a request to an upstream (request ids start with the worker's pid in base 36). */
function workerOf(u: Upstream, i: number, pids: string[]): string | undefined {
  const id = String(u.seen[i]?.headers['x-request-id'] ?? '');
  return pids.filter((p) => id.startsWith(p)).sort((x, y) => y.length - x.length)[0];
}

test('GET /upstreams, GET /state and GET /metrics need the token', async () => {
  for (const path of ['/upstreams', '/state', '/metrics']) {
    const anon = await admin(path, { token: null });
    assert.equal(anon.status, 401, path);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(((await anon.json()) as { error: { code: string } }).error.code, 'WICKET_ERR_ADMIN_UNAUTHORIZED');
    assert.equal((await admin(path, { token: 'wrong-token-wrong-token-xx' })).status, 401, path);
  }
  const post = await admin('/upstreams/svc/targets/0/disable', { method: 'POST', token: null });
  assert.equal(post.status, 401, 'the target switch needs the token too');
  assert.equal((await svc())[0]!.down.admin, false, 'and did nothing');
});

test('GET /upstreams lists every target with health, in-flight, latency and counts', async () => {
  const v = await view();
  assert.deepEqual([...v.keys()].sort(), ['guarded', 'svc']);
  const s = v.get('svc')!;
  assert.equal(s.balancer, 'round-robin');
  assert.equal(s.circuit, null, 'no breaker configured');
  assert.equal(v.get('guarded')!.circuit?.state, 'closed');
  assert.deepEqual(s.targets.map((t) => [t.index, t.url, t.weight]), [[0, a.url, 1], [1, b.url, 1]]);
  for (const t of s.targets) {
    assert.equal(t.healthy, true);
    assert.deepEqual(t.down, { check: false, admin: false, ejected: false });
    assert.equal(t.active, 0);
    assert.equal(t.retrying, 0);
    assert.equal(t.requests, 0);
    assert.equal(t.ewmaMs, 0);
    for (const k of ['ejectedForMs', 'ejections', 'consecutiveFailures', 'failures'] as const) assert.equal(t[k], 0, k);
  }
  for (let i = 0; i < 10; i++) assert.equal((await get('/svc/x')).status, 200);
  const t = await svc();
  assert.deepEqual(t.map((x) => x.requests), [5, 5], 'round robin, one rotation for both workers');
  for (const x of t) {
    assert.ok(x.ewmaMs > 0 && x.ewmaMs < 5000, `ewmaMs ${x.ewmaMs}`);
    assert.equal(x.active, 0);
  }
});

test('disable takes a target out of rotation for every worker; enable brings it back', async () => {
  const r = await admin('/upstreams/svc/targets/0/disable', { method: 'POST' });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { upstream: 'svc', target: 0, adminDown: true });
  const t = await svc();
  assert.equal(t[0]!.healthy, false);
  assert.deepEqual(t[0]!.down, { check: false, admin: true, ejected: false });
  assert.equal(t[1]!.healthy, true);

  const pids = await workerPids();
  const hitsA = a.seen.length;
  const workers = new Set<string>();
  for (let i = 0; i < 100 && (i < 30 || workers.size < 2); i++) {
    const at = b.seen.length;
    const res = await get('/svc/x');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'b');
    const w = workerOf(b, at, pids);
    if (w !== undefined) workers.add(w);
  }
  assert.equal(a.seen.length, hitsA, 'no request reached the disabled target');
  assert.equal(workers.size, 2, 'both workers skipped it');

  // Disabling is idempotent; the other upstream on the same URL is its own slot.
  assert.equal((await admin('/upstreams/svc/targets/0/disable', { method: 'POST' })).status, 200);
  assert.equal((await get('/guarded/x')).body, 'a', 'the same URL under another upstream is still in rotation');

  const e = await admin('/upstreams/svc/targets/0/enable', { method: 'POST' });
  assert.equal(e.status, 200);
  assert.deepEqual(await e.json(), { upstream: 'svc', target: 0, adminDown: false });
  const back = await svc();
  assert.equal(back[0]!.healthy, true);
  assert.equal(back[0]!.down.admin, false);
  const before = a.seen.length;
  for (let i = 0; i < 10; i++) assert.equal((await get('/svc/x')).status, 200);
  assert.equal(a.seen.length - before, 5, 'back in the rotation');
});

test('all targets disabled: 503 WICKET_ERR_NO_TARGET, counted in GET /state', async () => {
  const before = ((await (await admin('/state')).json()) as { counters: Record<string, number> }).counters;
  for (const i of [0, 1]) assert.equal((await admin(`/upstreams/svc/targets/${i}/disable`, { method: 'POST' })).status, 200);
  try {
    const r = await get('/svc/x');
    assert.equal(r.status, 503);
    assert.equal((JSON.parse(r.body) as { error: { code: string } }).error.code, 'WICKET_ERR_NO_TARGET');
  } finally {
    for (const i of [0, 1]) assert.equal((await admin(`/upstreams/svc/targets/${i}/enable`, { method: 'POST' })).status, 200);
  }
  const after = ((await (await admin('/state')).json()) as { counters: Record<string, number> }).counters;
  assert.equal(after.noTarget! - before.noTarget!, 1);
  assert.equal((await get('/svc/x')).status, 200);
});

test('unknown upstream or index -> 404; other methods on the action path -> 405; unknown actions -> 404', async () => {
  for (const path of ['/upstreams/nope/targets/0/disable', '/upstreams/svc/targets/2/disable', '/upstreams/svc/targets/99999/enable']) {
    const r = await admin(path, { method: 'POST' });
    assert.equal(r.status, 404, path);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'WICKET_ERR_TARGET_NOT_FOUND', path);
  }
  // Names the admin API can't hold: inherited object keys are not upstreams.
  for (const name of ['__proto__', 'constructor', 'toString']) {
    assert.equal((await admin(`/upstreams/${name}/targets/0/disable`, { method: 'POST' })).status, 404, name);
  }
  for (const method of ['GET', 'PUT', 'DELETE']) {
    const r = await admin('/upstreams/svc/targets/0/disable', { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.get('allow'), 'POST');
  }
  assert.equal((await admin('/upstreams/svc/targets/0/explode', { method: 'POST' })).status, 404);
  assert.equal((await admin('/upstreams/svc/targets/-1/disable', { method: 'POST' })).status, 404);
  assert.equal((await svc())[0]!.down.admin, false, 'none of these changed anything');
});

test('GET /state returns the gateway-wide counters', async () => {
  const r = await admin('/state');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
  const { counters } = (await r.json()) as { counters: Record<string, unknown> };
  for (const k of ['retries', 'retriesDeniedByBudget', 'circuitOpened', 'circuitRejected', 'ejections', 'noTarget']) {
    assert.equal(typeof counters[k], 'number', k);
    assert.ok((counters[k] as number) >= 0, k);
  }
  for (const [k, v] of Object.entries(counters)) assert.ok(Number.isInteger(v), `${k} = ${String(v)}`);
});

test('GET /metrics: Prometheus text read from shared memory', async () => {
  for (let i = 0; i < 4; i++) assert.equal((await get('/svc/m')).status, 200);
  const r = await admin('/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await r.text();
  for (const target of [a.url, b.url]) {
    assert.ok(text.includes(`wicket_upstream_target_active{upstream="svc",target="${target}"} 0`), text);
    assert.ok(text.includes(`wicket_upstream_target_healthy{upstream="svc",target="${target}"} 1`), text);
    assert.match(text, new RegExp(`wicket_upstream_target_latency_ewma_seconds\\{upstream="svc",target="${target}"\\} [0-9.e-]+`));
  }
  assert.match(text, /^wicket_circuit_state\{upstream="guarded"\} 0$/m);
  assert.match(text, /^wicket_state_table_full_total 0$/m);
  assert.match(text, /^wicket_upstream_retries_total \d+$/m);
});

test('after everything, nothing is in flight', async () => {
  await sleep(50);
  for (const u of (await view()).values()) for (const t of u.targets) assert.equal(t.active, 0, `${u.name}[${t.index}]`);
});
