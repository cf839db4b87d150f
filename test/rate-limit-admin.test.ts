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
  const globalRoute =
    redis === null
      ? ''
      : `  - name: g\n    match: { path: "/g/*" }\n    upstream: u\n    rateLimit: { limits: [ { name: per-key, algorithm: fixed-window, limit: 3, windowMs: 600000, key: [header:x-key], tier: global } ] }\n` +
        // An exact sliding log in Redis, then a tighter local limit: what the second refuses, the first gives back.
        `  - name: gm\n    match: { path: "/gm/*" }\n    upstream: u\n    rateLimit: { limits: [ { name: hourly, algorithm: sliding-log, limit: 100, windowMs: 3600000, key: [header:x-key], tier: global }, { name: tight, algorithm: fixed-window, limit: 2, windowMs: 3600000, key: [header:x-key] } ] }\n`;
  gw = await startGateway(
    `${global}upstreams:\n  u: { targets: [{ url: "${up.url}" }] }\nroutes:\n  - name: m\n    match: { path: "/m/*" }\n    upstream: u\n    rateLimit: { limits: [ { name: hourly, algorithm: gcra, limit: 1000, windowMs: 3600000, key: [header:x-key] }, { name: tight, algorithm: fixed-window, limit: 2, windowMs: 3600000, key: [header:x-key] } ] }\n  - name: cnt\n    match: { path: "/cnt/*" }\n    upstream: u\n    rateLimit: { limits: [ { name: five, algorithm: fixed-window, limit: 5, windowMs: 600000, key: [route] } ] }\n  - name: l\n    match: { path: "/l/*" }\n    upstream: u\n    rateLimit: { limits: [ { name: per-key, algorithm: fixed-window, limit: 3, windowMs: 600000, key: [header:x-key, route] } ] }\n${globalRoute}`,
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

test('a request refused by a later limit gives back what the earlier ones took (local)', async () => {
  assert.deepEqual(await statuses('/m/x', 'dave', 6), [200, 200, 429, 429, 429, 429]);
  const hourly = (await (await admin('GET', 'route=m&limit=hourly&key=dave')).json()) as { state: { theoreticalArrivalInMs: number } };
  // gcra 1000/h: one unit is 3.6 s of arrival time. Two admitted: 7.2 s, not 21.6 s for six.
  const tat = hourly.state.theoreticalArrivalInMs;
  assert.ok(tat > 3600 && tat <= 7200, `two units taken, four given back: TAT in ${tat} ms`);
});

test('the exact sliding log (global) holds one entry per admitted unit; refused requests give theirs back', { skip }, async () => {
  assert.deepEqual(await statuses('/gm/x', 'erin', 5), [200, 200, 429, 429, 429]);
  // Refunds to Redis are not awaited by the request: poll.
  let raw: string[] | null = null;
  for (let i = 0; i < 50; i++) {
    const body = (await (await admin('GET', 'route=gm&limit=hourly&key=erin')).json()) as { redis: { raw: string[] | null } };
    raw = body.redis.raw;
    if (raw?.[1] === '2') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(raw?.[0], 'count');
  assert.equal(raw?.[1], '2', JSON.stringify(raw));
});

test('allowed/limited counts reach GET /metrics exactly, also across a rolling restart (a worker flushes its counts as it exits)', async () => {
  assert.deepEqual(await statuses('/cnt/x', 'any', 8), [200, 200, 200, 200, 200, 429, 429, 429]);
  // Right away: the workers hold the last second's counts; the old ones must hand them over on their way out.
  gw.signal('SIGUSR2');
  await gw.waitFor('rolling restart done', 30_000);
  const metric = (text: string, name: string): number | undefined => {
    const m = new RegExp(`^${name}\\{route="cnt",limit="five"\\} (\\d+)$`, 'm').exec(text);
    return m === null ? undefined : Number(m[1]);
  };
  let text = '';
  for (let i = 0; i < 30; i++) {
    text = await (await fetch(`http://127.0.0.1:${gw.adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    if (metric(text, 'wicket_ratelimit_allowed_total') === 5 && metric(text, 'wicket_ratelimit_limited_total') === 3) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(metric(text, 'wicket_ratelimit_allowed_total'), 5);
  assert.equal(metric(text, 'wicket_ratelimit_limited_total'), 3);
});

test('unknown route or limit: 404; missing parameters: 400; no token: 401', async () => {
  assert.equal((await admin('GET', 'route=nope&limit=per-key&key=a')).status, 404);
  assert.equal((await admin('GET', 'route=l&limit=nope&key=a')).status, 404);
  assert.equal((await admin('GET', 'route=l')).status, 400);
  assert.equal((await fetch(`http://127.0.0.1:${gw.adminPort}/ratelimit?route=l&limit=per-key&key=a`)).status, 401);
});
