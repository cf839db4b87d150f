// The admin API's view of a rate-limit key: read its state and reset it, for
// a local limit (shared memory) and a global one (Redis, plus its local
// fallback cell).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { redisSkip, startRedisServer, type RedisServer } from './helpers/redis-server.js';

const TOKEN = 'ratelimit-admin-token-0123456';
const skip = redisSkip();
let gw: Gateway;
let up: Upstream;
let redis: RedisServer | null = null;

before(async () => {
  up = await startUpstream((req, res) => {
    req.resume();
    res.end('ok');
  });
  if (!skip) redis = await startRedisServer();
  const global = redis === null ? '' : `rateLimit: { redis: { url: "redis://127.0.0.1:${redis.port}", deadlineMs: 200 } }\n`;
  const globalRoute = redis === null ? '' : `  - name: g\n    match: { path: "/g/*" }\n    upstream: u\n    rateLimit: { limits: [ { name: per-key, algorithm: fixed-window, limit: 3, windowMs: 600000, key: [header:x-key], tier: global } ] }\n`;
  gw = await startGateway(
    `${global}upstreams:\n  u: { targets: [{ url: "${up.url}" }] }\nroutes:\n  - name: l\n    match: { path: "/l/*" }\n    upstream: u\n    rateLimit: { limits: [ { name: per-key, algorithm: fixed-window, limit: 3, windowMs: 600000, key: [header:x-key, route] } ] }\n${globalRoute}`,
    { workers: 2, adminToken: TOKEN },
  );
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await redis?.stop();
});

const admin = (method: string, q: string): Promise<Response> =>
  fetch(`http://127.0.0.1:${gw.adminPort}/ratelimit?${q}`, { method, headers: { authorization: `Bearer ${TOKEN}` } });

async function statuses(path: string, key: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await fetch(`${gw.url}${path}`, { headers: { 'x-key': key } })).status);
  return out;
}

test('local limit: read a key, reset it, and it admits again', async () => {
  assert.deepEqual(await statuses('/l/x', 'alice', 4), [200, 200, 200, 429]);
  const r = await admin('GET', 'route=l&limit=per-key&key=alice,l');
  assert.equal(r.status, 200);
  const body = (await r.json()) as { present: boolean; state: { count: number }; tier: string };
  assert.deepEqual([body.present, body.state.count, body.tier], [true, 3, 'local']);
  const other = (await (await admin('GET', 'route=l&limit=per-key&key=bob,l')).json()) as { present: boolean };
  assert.equal(other.present, false);
  const reset = (await (await admin('DELETE', 'route=l&limit=per-key&key=alice,l')).json()) as { reset: boolean };
  assert.equal(reset.reset, true);
  assert.deepEqual(await statuses('/l/x', 'alice', 1), [200]);
});

test('global limit: the Redis state is shown and reset', { skip }, async () => {
  assert.deepEqual(await statuses('/g/x', 'carol', 4), [200, 200, 200, 429]);
  const body = (await (await admin('GET', 'route=g&limit=per-key&key=carol')).json()) as { tier: string; redis: { key: string; raw: string[] | null } };
  assert.equal(body.tier, 'global');
  assert.ok(body.redis.raw !== null, JSON.stringify(body));
  assert.match(body.redis.key, /\{g\/per-key:carol\}/);
  assert.equal(((await (await admin('DELETE', 'route=g&limit=per-key&key=carol')).json()) as { reset: boolean }).reset, true);
  assert.deepEqual(await statuses('/g/x', 'carol', 1), [200]);
});

test('unknown route or limit: 404; missing parameters: 400; no token: 401', async () => {
  assert.equal((await admin('GET', 'route=nope&limit=per-key&key=a')).status, 404);
  assert.equal((await admin('GET', 'route=l&limit=nope&key=a')).status, 404);
  assert.equal((await admin('GET', 'route=l')).status, 400);
  assert.equal((await fetch(`http://127.0.0.1:${gw.adminPort}/ratelimit?route=l&limit=per-key&key=a`)).status, 401);
});
