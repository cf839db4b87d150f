// The global rate-limit tier end to end: two gateway instances (separate
// supervisors, separate shared-memory segments, two workers each) share a
// redis-server started by this test on its own port.
// (a) Exact together: a concurrent burst aligned to one wall-clock window
//     admits exactly `limit` at the upstream, whichever gateway and worker
//     each request reaches; the rejected get 429 with Retry-After and the
//     draft RateLimit / RateLimit-Policy fields.
// (b) Redis stalled (SIGSTOP) and then killed under load: no request waits
//     past the deadline (+ slack); the fail-open route keeps serving within
//     its local share (exactly limit x localShare per gateway and window);
//     the fail-closed route answers 503 WICKET_ERR_RATE_LIMIT_UNAVAILABLE.
// (c) Redis restarted on the same port: the workers reconnect in the
//     background and the global limit is exact again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { redisSkip, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep, until } from './helpers/wait.js';

const skip = redisSkip();

const LIMIT = 300;
const W = 3000;
const SHARE = 0.5;
/** The sliding-log route: a 10-minute window, so a burst needs no alignment. */
const LOG_LIMIT = 250;
/**
 * The Redis deadline of the test config. Exactness in (a) and (c) needs every
 * Redis call to beat it (a miss is a legitimate fail-open to the local share,
 * which would admit more): 50 ms was missed about once in 15 runs on a
 * loaded 2-vCPU machine, so the test uses 100.
 */
const DEADLINE = 100;
/** Generous: loopback proxying under a few dozen concurrent clients, plus timer jitter. */
const SLACK = 300;

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Client-side time from the request to the end of the response. */
  ms: number;
  /** performance.now() when sent. */
  at: number;
}

/** One request on a new connection (so either worker may take it). */
function get(gw: Gateway, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const at = performance.now();
    const req = http.request({ host: '127.0.0.1', port: gw.port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: performance.now() - at, at }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer to ${path} in 10 s`)));
    req.on('error', reject);
    req.end();
  });
}

/** `n` requests, at most `concurrency` at once. */
async function burst(gw: Gateway, path: string, n: number, concurrency: number): Promise<Reply[]> {
  const out: Reply[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        next++;
        out.push(await get(gw, path));
      }
    }),
  );
  return out;
}

/** Requests in loops until stop(), every reply kept. */
function load(gw: Gateway, path: string, concurrency: number): { stop(): Promise<Reply[]> } {
  const out: Reply[] = [];
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) out.push(await get(gw, path));
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return out;
    },
  };
}

/** Sleeps until `afterMs` into the next wall-clock window of W (windows are aligned to Unix time). */
async function nextWindow(afterMs = 30): Promise<number> {
  const id = Math.floor(Date.now() / W) + 1;
  await sleep(id * W + afterMs - Date.now());
  return id;
}

const count = (rs: Reply[], status: number): number => rs.filter((r) => r.status === status).length;
const codeOf = (r: Reply): string | undefined => {
  try {
    return (JSON.parse(r.body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
};
const statuses = (rs: Reply[]): Record<number, number> => {
  const m: Record<number, number> = {};
  for (const r of rs) m[r.status] = (m[r.status] ?? 0) + 1;
  return m;
};
const maxMs = (rs: Reply[]): number => rs.reduce((m, r) => Math.max(m, r.ms), 0);

/** Lines a gateway logged with exactly this pino msg. */
/** Lines a worker logged (the supervisor keeps a Redis client of its own for the admin API). */
const logged = (gw: Gateway, msg: string): number => gw.output.filter((l) => l.includes(`"msg":"${msg}"`) && l.includes('"name":"worker"')).length;

// draft-ietf-httpapi-ratelimit-headers: sf-lists of sf-string items with integer params.
const SF_ITEM = (params: string[]) => `"[^"\\\\]*"${params.map((p) => `;${p}=\\d{1,15}`).join('')}`;
const POLICY_RE = new RegExp(`^${SF_ITEM(['q', 'w'])}(, ${SF_ITEM(['q', 'w'])})*$`);
const RATELIMIT_RE = new RegExp(`^${SF_ITEM(['r', 't'])}(, ${SF_ITEM(['r', 't'])})*$`);

describe('global rate limit: two gateways on one Redis', { skip }, () => {
  let redis: RedisServer;
  let up: Upstream;
  let a: Gateway;
  let b: Gateway;
  const hits = { api: 0, strict: 0, log: 0 };

  before(async () => {
    redis = await startRedisServer();
    up = await startUpstream((req, res) => {
      if (req.url!.startsWith('/api/')) hits.api++;
      else if (req.url!.startsWith('/strict/')) hits.strict++;
      else if (req.url!.startsWith('/log/')) hits.log++;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 2 });
      res.end('ok');
    });
    const config = `rateLimit:
  redis: { url: "${redis.url}", deadlineMs: ${DEADLINE} }
upstreams:
  u: { targets: [ { url: "${up.url}" } ] }
routes:
  - name: api
    match: { path: "/api/*" }
    upstream: u
    rateLimit:
      limits:
        - { name: global, algorithm: fixed-window, limit: ${LIMIT}, windowMs: ${W}, key: [route], tier: global, onRedisFailure: open, localShare: ${SHARE} }
  - name: strict
    match: { path: "/strict/*" }
    upstream: u
    rateLimit:
      limits:
        - { name: strict, algorithm: fixed-window, limit: 1000000, windowMs: ${W}, key: [route], tier: global, onRedisFailure: closed }
  - name: heavy
    match: { path: "/heavy/*" }
    upstream: u
    rateLimit:
      limits:
        - { name: heavy, algorithm: fixed-window, limit: 10, windowMs: 600000, key: [route], tier: global, onRedisFailure: open, localShare: ${SHARE}, costHeader: x-cost }
  - name: log
    match: { path: "/log/*" }
    upstream: u
    rateLimit:
      limits:
        - { name: exact, algorithm: sliding-log, limit: ${LOG_LIMIT}, windowMs: 600000, key: [route], tier: global }
`;
    [a, b] = await Promise.all([startGateway(config, { workers: 2 }), startGateway(config, { workers: 2 })]);
    // Every worker has its Redis connection (a request before that would take the fail-open path).
    for (const gw of [a, b]) assert.ok(await until(() => logged(gw, 'redis connected') >= 2, 10_000), `workers connected to redis:\n${gw.output.slice(-20).join('\n')}`);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await up?.close();
    await redis?.stop();
  });

  const circuitOpened = (): number => [a, b].reduce((n, gw) => n + gw.output.filter((l) => l.includes('redis circuit opened')).length, 0);

  /** A burst from both gateways inside one aligned window: how many reached the upstream. */
  // A burst that spilled into the next window (a busy machine) counts against two windows: it proves
  // nothing either way, so it is tried again in a fresh window (at most 3 times).
  async function alignedBurst(perGateway: number): Promise<{ admitted: number; a: Reply[]; b: Reply[] }> {
    for (let attempt = 1; ; attempt++) {
      const id = await nextWindow();
      const before = hits.api;
      const [ra, rb] = await Promise.all([burst(a, '/api/x', perGateway, 32), burst(b, '/api/x', perGateway, 32)]);
      const admitted = hits.api - before;
      if (Math.floor(Date.now() / W) === id) return { admitted, a: ra, b: rb };
      assert.ok(attempt < 3, 'three bursts in a row did not fit in one window (else the count spans two)');
    }
  }

  test('(a) exactly the limit, together, in one window; 429s carry Retry-After and RateLimit fields', async () => {
    const { admitted, a: ra, b: rb } = await alignedBurst(500);
    const all = [...ra, ...rb];
    assert.equal(admitted, LIMIT, `admitted at the upstream: ${admitted}; statuses ${JSON.stringify(statuses(all))}; redis circuit opened ${circuitOpened()} times`);
    assert.equal(count(all, 200), LIMIT);
    assert.equal(count(all, 429), 1000 - LIMIT);
    assert.ok(count(ra, 200) > 0 && count(rb, 200) > 0, `both gateways admitted some (${count(ra, 200)} + ${count(rb, 200)})`);

    const ok = all.filter((r) => r.status === 200);
    const remaining = ok.map((r) => Number(/;r=(\d+)/.exec(String(r.headers['ratelimit']))?.[1])).sort((x, y) => x - y);
    assert.deepEqual(remaining, Array.from({ length: LIMIT }, (_, i) => i), 'each remaining count handed out once, across both gateways');

    const no = all.find((r) => r.status === 429)!;
    assert.equal(codeOf(no), 'WICKET_ERR_RATE_LIMITED');
    const retry = Number(no.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= W / 1000, `Retry-After ${no.headers['retry-after']}`);
    assert.equal(no.headers['ratelimit-policy'], `"global";q=${LIMIT};w=${W / 1000}`);
    assert.match(String(no.headers['ratelimit-policy']), POLICY_RE);
    assert.match(String(no.headers['ratelimit']), RATELIMIT_RE);
    const t = Number(/;t=(\d+)/.exec(String(no.headers['ratelimit']))?.[1]);
    assert.ok(/^"global";r=0;t=\d+$/.test(String(no.headers['ratelimit'])) && t >= 1 && t <= W / 1000, String(no.headers['ratelimit']));
  });

  test('(a2) the exact sliding log: exactly the limit together, one log entry per admitted request', async () => {
    const before = hits.log;
    const [ra, rb] = await Promise.all([burst(a, '/log/x', 400, 32), burst(b, '/log/x', 400, 32)]);
    const all = [...ra, ...rb];
    assert.equal(hits.log - before, LOG_LIMIT, `admitted at the upstream; statuses ${JSON.stringify(statuses(all))}; redis circuit opened ${circuitOpened()} times`);
    assert.equal(count(all, 429), 800 - LOG_LIMIT);
    assert.ok(count(ra, 200) > 0 && count(rb, 200) > 0, `both gateways admitted some (${count(ra, 200)} + ${count(rb, 200)})`);
    const no = all.find((r) => r.status === 429)!;
    // Retry-After: until the oldest entry leaves the 10-minute window.
    const retry = Number(no.headers['retry-after']);
    assert.ok(retry > 590 && retry <= 600, `Retry-After ${retry}`);
    assert.equal(no.headers['ratelimit-policy'], `"exact";q=${LOG_LIMIT};w=600`);
  });

  test('(b) Redis stalled, then killed, under load: nobody waits past the deadline; fail-open serves its local share; fail-closed 503', async () => {
    const loads = [load(a, '/api/x', 8), load(b, '/api/x', 8), load(a, '/strict/x', 8), load(b, '/strict/x', 8)];
    await sleep(300);
    const pausedAt = performance.now();
    redis.pause();
    await sleep(1500);
    const killedAt = performance.now();
    await redis.kill();
    await sleep(1500);
    const [la, lb, sa, sb] = await Promise.all(loads.map((l) => l.stop()));
    const api = [...la!, ...lb!];
    const strict = [...sa!, ...sb!];
    const all = [...api, ...strict];

    const slow = all.filter((r) => r.ms > DEADLINE + SLACK);
    assert.equal(slow.length, 0, `requests over ${DEADLINE} + ${SLACK} ms: ${slow.map((r) => r.ms.toFixed(0)).join(', ')}`);
    const stalled = all.filter((r) => r.at > pausedAt);
    assert.ok(stalled.length > 100, `load ran during the outage (${stalled.length})`);
    const dead = all.filter((r) => r.at > killedAt);
    // (observed latencies, for the record)
    console.log(
      `outage: ${stalled.length} requests, max ${maxMs(stalled).toFixed(1)} ms (stalled ${maxMs(stalled.filter((r) => r.at < killedAt)).toFixed(1)}, dead ${maxMs(dead).toFixed(1)}); api ${JSON.stringify(statuses(api.filter((r) => r.at > pausedAt)))} strict ${JSON.stringify(statuses(strict.filter((r) => r.at > pausedAt)))}`,
    );

    // Fail-closed: every request sent into the outage got 503 with its code.
    const strictOut = strict.filter((r) => r.at > pausedAt + 5);
    assert.ok(strictOut.length > 0);
    assert.deepEqual(statuses(strictOut), { 503: strictOut.length });
    assert.equal(codeOf(strictOut[0]!), 'WICKET_ERR_RATE_LIMIT_UNAVAILABLE');
    // Fail-open: served (200 within the local share, then 429), never 503.
    const apiOut = api.filter((r) => r.at > pausedAt);
    assert.equal(count(apiOut, 503), 0);
    assert.ok(count(apiOut, 200) > 0, `fail-open served: ${JSON.stringify(statuses(apiOut))}`);
    assert.equal(count(apiOut, 200) + count(apiOut, 429), apiOut.length);

    // Exactly the local share per gateway (each its own segment) in one window.
    const { admitted, a: ra, b: rb } = await alignedBurst(400);
    const share = Math.floor(LIMIT * SHARE);
    assert.equal(count(ra, 200), share, `gateway a: ${JSON.stringify(statuses(ra))}`);
    assert.equal(count(rb, 200), share, `gateway b: ${JSON.stringify(statuses(rb))}`);
    assert.equal(admitted, 2 * share);
    const no = ra.find((r) => r.status === 429)!;
    assert.equal(no.headers['ratelimit-policy'], `"global";q=${LIMIT};w=${W / 1000}`, 'the configured policy is still announced');
    assert.ok(Number(no.headers['retry-after']) >= 1);
    const closed = await get(a, '/strict/x');
    assert.equal(closed.status, 503);
    assert.equal(codeOf(closed), 'WICKET_ERR_RATE_LIMIT_UNAVAILABLE');

    // A cost the local fallback (limit 10 x 0.5) can never admit: 429 without Retry-After, nothing taken.
    const heavy = (cost: number) => fetch(`http://127.0.0.1:${a.port}/heavy/x`, { headers: { 'x-cost': String(cost) } });
    const never = await heavy(8);
    assert.equal(never.status, 429);
    assert.equal(never.headers.get('retry-after'), null, 'waiting for the fallback would not help');
    await never.arrayBuffer();
    const fits = await heavy(5);
    assert.equal(fits.status, 200, 'the fallback still had all 5 units');
    await fits.arrayBuffer();
  });

  test('(c) Redis restarted on the same port: workers reconnect, the global limit is exact again', async () => {
    await redis.restart();
    for (const gw of [a, b]) assert.ok(await until(() => logged(gw, 'redis reconnected') >= 2, 15_000), `workers reconnected:\n${gw.output.slice(-20).join('\n')}`);
    const strictBefore = hits.strict;
    const s = await burst(a, '/strict/x', 20, 4);
    assert.deepEqual(statuses(s), { 200: 20 });
    assert.equal(hits.strict - strictBefore, 20);
    const { admitted, a: ra, b: rb } = await alignedBurst(500);
    assert.equal(admitted, LIMIT, `after recovery: ${JSON.stringify(statuses([...ra, ...rb]))}`);
    assert.equal(count([...ra, ...rb], 429), 1000 - LIMIT);
  });
});
