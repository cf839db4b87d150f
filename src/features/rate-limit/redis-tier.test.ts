// RedisTier against a private redis-server on its own port (test/helpers/
// redis-server.ts): each algorithm's decisions against hand-computed values
// (on a test clock passed to the script, takeAt) and against a reference
// model over random sequences; exactness under concurrency on Redis's own
// clock; two tiers sharing one limit; cost > 1; keys; batching (takes of one
// turn coalesced into one script call per hash tag, or per turn: the same
// decisions as the same takes one by one, and the number of script calls
// Redis saw); and the failure path: a stalled Redis (SIGSTOP) never holds a
// call (nor a batch) past the deadline, a dead one is skipped at once once
// the circuit is open, and a restarted one is used again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startRedisServer, redisSkip, type RedisServer } from '../../../test/helpers/redis-server.js';
import { sleep, until } from '../../../test/helpers/wait.js';
import { RedisTier, RedisTierError, hashTag, redactUrl, redisKey, type Algorithm, type Decision, type LimitSpec, type RedisTierOptions } from './redis-tier.js';
import { freePorts } from '../../../test/helpers/gateway.js';
import { refund as localRefund, take as localTake, type LimitSpec as LocalSpec } from './algorithms.js';

const skip = redisSkip();

/** A window-aligned test clock (ms). */
const T0 = 1_700_000_000_000;

const d = (allowed: boolean, remaining: number, resetMs: number, retryAfterMs: number): Decision => ({ allowed, remaining, resetMs, retryAfterMs });

let seq = 0;
const spec = (algorithm: Algorithm, limit: number, windowMs: number, burst?: number): LimitSpec => ({
  id: `t${++seq}`,
  algorithm,
  limit,
  windowMs,
  ...(burst === undefined ? {} : { burst }),
});

async function ready(tier: RedisTier, ms = 5000): Promise<void> {
  assert.ok(await until(() => tier.available, ms), 'tier did not become available');
}

function codeOf(e: unknown): string | undefined {
  return (e as { code?: string }).code;
}

/** ms until the current wall-clock window of `w` ms ends. */
const leftInWindow = (w: number): number => w - (Date.now() % w);

// --- reference model -------------------------------------------------------------
// The semantics written out plainly (µs, as the scripts compute them), to
// compare with the scripts over random sequences.

interface Cell {
  tat?: number;
  w?: number;
  c?: number;
  p?: number;
  /** sliding-log: each admitted unit's time (µs), oldest first. */
  log?: number[];
}

const ceilMs = (us: number): number => Math.ceil(us / 1000);

/** A negative cost is a refund (decision 1, 0, 0, 0). */
function reference(s: LimitSpec, cell: Cell, cost: number, nowMs: number): Decision {
  const now = Math.round(nowMs * 1000);
  const L = s.limit;
  if (s.algorithm === 'sliding-log') {
    const W = s.windowMs * 1000;
    const log = (cell.log ??= []);
    while (log.length > 0 && log[0]! <= now - W) log.shift();
    const used = log.length;
    if (cost < 0) {
      log.splice(Math.max(0, used + cost));
      return d(true, 0, 0, 0);
    }
    if (used + cost <= L) {
      for (let i = 0; i < cost; i++) log.push(now);
      return d(true, L - used - cost, ceilMs(W), 0);
    }
    const reset = used > 0 ? ceilMs(log[used - 1]! + W - now) : 0;
    // Admitted once the oldest (used + cost - L) entries have left.
    const retry = cost <= L ? ceilMs(log[used + cost - L - 1]! + W - now) : ceilMs(W);
    return d(false, Math.max(0, L - used), reset, Math.max(1, retry));
  }
  if (s.algorithm === 'gcra') {
    const T = Math.max(1, Math.ceil((s.windowMs * 1000) / L - 1e-9));
    if (cost < 0) {
      if (cell.tat !== undefined) cell.tat = Math.max(cell.tat + cost * T, now);
      return d(true, 0, 0, 0);
    }
    const B = s.burst ?? L;
    const tat = Math.max(cell.tat ?? now, now);
    const newTat = tat + cost * T;
    if (newTat - now > B * T) return d(false, Math.max(0, Math.floor((B * T - (tat - now)) / T)), ceilMs(tat - now), ceilMs(newTat - now - B * T));
    cell.tat = newTat;
    return d(true, Math.floor((B * T - (newTat - now)) / T), ceilMs(newTat - now), 0);
  }
  const W = s.windowMs * 1000;
  const id = Math.floor(now / W);
  const elapsed = now - id * W;
  if (cost < 0) {
    // Off the stored count while it still counts: fixed, this window; sliding, this or the previous one.
    if (cell.w === id || (s.algorithm === 'sliding-window' && cell.w === id - 1)) cell.c = Math.max(0, cell.c! + cost);
    return d(true, 0, 0, 0);
  }
  if (s.algorithm === 'fixed-window') {
    const cur = cell.w === id ? cell.c! : 0;
    const left = ceilMs(W - elapsed);
    if (cur + cost <= L) {
      cell.w = id;
      cell.c = cur + cost;
      return d(true, L - cur - cost, left, 0);
    }
    return d(false, Math.max(0, L - cur), left, left);
  }
  const cur = cell.w === id ? cell.c! : 0;
  const prev = cell.w === id ? cell.p! : cell.w === id - 1 ? cell.c! : 0;
  // estimate = prev * (1 - elapsed/W) + cur; everything below is that, scaled by W (exact in integers).
  const used = prev * (W - elapsed) + cur * W;
  const reset = ceilMs(W - elapsed);
  if (used + cost * W <= L * W) {
    cell.p = prev;
    cell.w = id;
    cell.c = cur + cost;
    return d(true, Math.max(0, Math.floor((L * W - used - cost * W) / W)), reset, 0);
  }
  let retry = reset;
  if (prev > 0 && cur + cost <= L) {
    // t = W * (1 - (L - cur - cost) / prev): when prev's weight has decayed enough
    const num = Math.max(0, W * (prev - (L - cur - cost)) - elapsed * prev);
    retry = Math.max(1, Math.ceil(num / (prev * 1000)));
  }
  return d(false, Math.max(0, Math.floor((L * W - used) / W)), reset, retry);
}

/** Script calls (EVALSHA + EVAL) Redis has run so far. */
async function scriptCalls(r: Redis): Promise<number> {
  const info = await r.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(?:evalsha|eval):calls=(\d+)/gm)) n += Number(m[1]);
  return n;
}

/** A deterministic mix of takes over several specs, keys and costs. */
function mixedOps(specs: LimitSpec[], keys: string[], n: number, seed: number): { s: number; key: string; cost: number }[] {
  let rnd = seed;
  const rand = (m: number) => {
    rnd = (rnd * 1103515245 + 12345) % 2147483648;
    return rnd % m;
  };
  return Array.from({ length: n }, () => ({ s: rand(specs.length), key: keys[rand(keys.length)]!, cost: rand(6) === 0 ? rand(4) + 2 : rand(15) === 0 ? 0 : 1 }));
}

/** The same limits under fresh ids (fresh state in Redis). */
const twin = (s: LimitSpec): LimitSpec => ({ ...s, id: `t${++seq}` });

// --- tests -------------------------------------------------------------------------

describe('RedisTier', { skip }, () => {
  let srv: RedisServer;
  let tier: RedisTier;
  let direct: Redis;

  before(async () => {
    srv = await startRedisServer();
    tier = new RedisTier({ url: srv.url, deadlineMs: 2000, keyPrefix: 'wt:rl' });
    direct = new Redis(srv.url, { lazyConnect: false });
    await ready(tier);
  });

  after(async () => {
    await tier?.close();
    direct?.disconnect();
    await srv?.stop();
  });

  test('keys: prefix and a hash tag around id and key; long, braced or #-keys hashed', async () => {
    const s = spec('fixed-window', 5, 1000);
    assert.equal(redisKey('p', { id: 'route:limit' }, '10.0.0.1'), 'p:{route:limit:10.0.0.1}');
    const long = 'x'.repeat(201);
    const hashed = redisKey('p', { id: 'r' }, long);
    assert.match(hashed, /^p:\{r:#[0-9a-f]{40}\}$/);
    assert.equal(redisKey('p', { id: 'r' }, 'x'.repeat(200)), `p:{r:${'x'.repeat(200)}}`);
    assert.match(redisKey('p', { id: 'r' }, 'a}b'), /^p:\{r:#[0-9a-f]{40}\}$/);
    assert.match(redisKey('p', { id: 'r' }, 'a{b'), /^p:\{r:#[0-9a-f]{40}\}$/);
    assert.notEqual(redisKey('p', { id: 'r' }, hashed.slice(5, -1)), hashed, 'a literal "#sha1" key is hashed again');
    assert.match(redisKey('p', { id: 'r' }, '€'.repeat(70)), /#[0-9a-f]{40}/, '> 200 bytes (not chars) is hashed');
    // The key really used in Redis, and its cluster slot covers only the tag.
    await tier.take(s, 'client-1', 1);
    const key = `wt:rl:{${s.id}:client-1}`;
    assert.equal(await direct.exists(key), 1);
    assert.equal((await tier.peek(s, 'client-1')).key, key);
    const tag = key.slice(key.indexOf('{') + 1, key.indexOf('}'));
    assert.equal(tag, `${s.id}:client-1`);
    await assert.rejects(tier.take({ ...s, id: 'a{b' }, 'k', 1), RangeError);
  });

  test('gcra: hand-computed decisions (limit 5 per 1000 ms: one unit every 200 ms, burst 5)', async () => {
    const s = spec('gcra', 5, 1000);
    const at = (ms: number, cost = 1) => tier.takeAt(s, 'k', cost, T0 + ms);
    assert.deepEqual(await at(0), d(true, 4, 200, 0));
    assert.deepEqual(await at(0), d(true, 3, 400, 0));
    assert.deepEqual(await at(0, 3), d(true, 0, 1000, 0));
    assert.deepEqual(await at(0), d(false, 0, 1000, 200), 'the burst is spent');
    assert.deepEqual(await at(100), d(false, 0, 900, 100), 'denied requests change nothing');
    assert.deepEqual(await at(200), d(true, 0, 1000, 0), 'one unit back after 200 ms');
    assert.deepEqual(await at(250), d(false, 0, 950, 150));
    assert.deepEqual(await at(1500, 3), d(true, 2, 600, 0), 'idle: TAT restarts at now');
    assert.deepEqual(await at(1500, 6), d(false, 2, 600, 800), 'cost beyond the bucket');
    // A fresh key: cost > burst can never pass; state untouched.
    assert.deepEqual(await tier.takeAt(s, 'k2', 6, T0), d(false, 5, 0, 200));
    assert.equal((await tier.peek(s, 'k2')).raw, null);
  });

  test('gcra: burst apart from the rate; fractional interval rounded up to a whole µs', async () => {
    const b = spec('gcra', 10, 1000, 3); // one every 100 ms, at most 3 at once
    assert.deepEqual(await tier.takeAt(b, 'k', 1, T0), d(true, 2, 100, 0));
    assert.deepEqual(await tier.takeAt(b, 'k', 2, T0), d(true, 0, 300, 0));
    assert.deepEqual(await tier.takeAt(b, 'k', 1, T0), d(false, 0, 300, 100));
    assert.deepEqual(await tier.takeAt(b, 'k', 1, T0 + 100), d(true, 0, 300, 0));
    const f = spec('gcra', 3, 1000); // T = 333334 µs
    assert.deepEqual(await tier.takeAt(f, 'k', 1, T0), d(true, 2, 334, 0));
    assert.deepEqual(await tier.takeAt(f, 'k', 1, T0), d(true, 1, 667, 0));
    assert.deepEqual(await tier.takeAt(f, 'k', 1, T0), d(true, 0, 1001, 0));
    assert.deepEqual(await tier.takeAt(f, 'k', 1, T0), d(false, 0, 1001, 334));
    const p = await tier.peek(f, 'k');
    assert.deepEqual(p.raw, [String((T0 * 1000 + 3 * 333334).toFixed(0))], 'state: the TAT in µs');
  });

  test('fixed-window: hand-computed decisions (3 per 1000 ms, windows aligned to Unix time)', async () => {
    const s = spec('fixed-window', 3, 1000);
    const at = (ms: number, cost = 1) => tier.takeAt(s, 'k', cost, T0 + ms);
    assert.deepEqual(await at(100), d(true, 2, 900, 0));
    assert.deepEqual(await at(200, 2), d(true, 0, 800, 0));
    assert.deepEqual(await at(300), d(false, 0, 700, 700));
    assert.deepEqual(await at(999), d(false, 0, 1, 1));
    assert.deepEqual(await at(1000), d(true, 2, 1000, 0), 'a new window');
    assert.deepEqual(await at(1001, 3), d(false, 2, 999, 999), 'cost above what is left');
    assert.deepEqual(await at(1002, 2), d(true, 0, 998, 0), 'the denial took nothing');
    assert.deepEqual(await tier.takeAt(s, 'k2', 4, T0 + 500), d(false, 3, 500, 500), 'cost above the limit');
    const p = await tier.peek(s, 'k');
    assert.deepEqual(p.raw, ['w', String(T0 / 1000 + 1), 'c', '3']);
  });

  test('sliding-window: hand-computed decisions (10 per 1000 ms)', async () => {
    const s = spec('sliding-window', 10, 1000);
    const at = (ms: number, cost = 1) => tier.takeAt(s, 'k', cost, T0 + ms);
    assert.deepEqual(await at(500, 4), d(true, 6, 500, 0));
    assert.deepEqual(await at(600, 6), d(true, 0, 400, 0));
    assert.deepEqual(await at(700), d(false, 0, 300, 300), 'no previous window: wait for this one to end');
    // Next window: prev = 10, weighted by what is left of it.
    assert.deepEqual(await at(1250, 2), d(true, 0, 750, 0), '10*0.75 + 0 + 2 = 9.5 <= 10');
    assert.deepEqual(await at(1300, 1), d(true, 0, 700, 0), '10*0.7 + 2 + 1 = 10');
    // 10*0.6 + 3 = 9: cost 2 waits until 10*(1-t) + 3 + 2 <= 10, t = 0.5: 100 ms from now.
    assert.deepEqual(await at(1400, 2), d(false, 1, 600, 100));
    assert.deepEqual(await at(1500, 2), d(true, 0, 500, 0), 'allowed exactly when promised');
    assert.deepEqual(await at(1600, 6), d(false, 1, 400, 400), 'cur + cost > limit: only the next window helps');
    assert.deepEqual(await at(3100, 10), d(true, 0, 900, 0), 'two windows on: nothing remembered');
    assert.deepEqual(await tier.takeAt(s, 'k2', 11, T0), d(false, 10, 1000, 1000));
  });

  test('sliding-log: hand-computed decisions (3 per 1000 ms, exact: every admitted unit remembered)', async () => {
    const s = spec('sliding-log', 3, 1000);
    const at = (ms: number, cost = 1) => tier.takeAt(s, 'k', cost, T0 + ms);
    assert.deepEqual(await at(0), d(true, 2, 1000, 0));
    assert.deepEqual(await at(100), d(true, 1, 1000, 0));
    assert.deepEqual(await at(200), d(true, 0, 1000, 0));
    assert.deepEqual(await at(300), d(false, 0, 900, 700), 'the unit of t=0 leaves at t=1000; full again when the one of t=200 has');
    assert.deepEqual(await at(999), d(false, 0, 201, 1));
    assert.deepEqual(await at(1000), d(true, 0, 1000, 0), 'exactly one window after t=0: that unit has left');
    // Entries: 100, 200, 1000. Cost 2 needs the two oldest gone: 200 leaves at 1200.
    assert.deepEqual(await at(1050, 2), d(false, 0, 950, 150));
    assert.deepEqual(await at(1200, 2), d(true, 0, 1000, 0));
    assert.deepEqual(await at(1200, 4), d(false, 0, 1000, 1000), 'more than the limit: never (Retry-After a window)');
    await tier.takeAt(s, 'k', -1, T0 + 1300);
    assert.deepEqual(await at(1300), d(true, 0, 1000, 0), 'a refund takes the newest entry off');
    assert.equal((await direct.llen(redisKey('wt:rl', s, 'k'))), 3, 'the list holds only live entries');
    assert.deepEqual((await tier.peek(s, 'k')).raw, ['count', '3', 'oldest', String((T0 + 1000) * 1000), 'newest', String((T0 + 1300) * 1000)]);
  });

  test('refunds: the scripts give back exactly what the local tier does (gcra, fixed and sliding window)', async () => {
    let rnd = 99;
    const rand = (n: number) => {
      rnd = (rnd * 1103515245 + 12345) % 2147483648;
      return rnd % n;
    };
    for (const s of [spec('gcra', 5, 1000), spec('gcra', 3, 600, 6), spec('fixed-window', 6, 700), spec('sliding-window', 6, 700), spec('sliding-window', 10, 1000)]) {
      const local: LocalSpec = { algorithm: s.algorithm as LocalSpec['algorithm'], limit: s.limit, windowMs: s.windowMs, burst: s.burst ?? s.limit };
      let state = 0n;
      let t = T0 + rand(700);
      for (let i = 0; i < 300; i++) {
        t += rand(3) === 0 ? rand(500) : rand(40);
        const cost = rand(4) === 0 ? -(rand(3) + 1) : rand(5) === 0 ? 2 : 1;
        const got = await tier.takeAt(s, 'k', cost, t);
        if (cost < 0) {
          state = BigInt.asIntN(64, localRefund(local, state, t, -cost));
          continue;
        }
        const v: Decision = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };
        state = BigInt.asIntN(64, localTake(local, state, t, cost, v));
        assert.deepEqual(got, v, `${s.algorithm} ${s.limit}/${s.windowMs} step ${i} at +${t - T0} ms cost ${cost}`);
      }
    }
  });

  test('all algorithms agree with the reference model over random sequences', async () => {
    let rnd = 12345;
    const rand = (n: number) => {
      rnd = (rnd * 1103515245 + 12345) % 2147483648;
      return rnd % n;
    };
    const specs = [
      spec('gcra', 7, 1000),
      spec('gcra', 3, 1000, 5),
      spec('gcra', 100, 60_000, 20),
      spec('fixed-window', 7, 500),
      spec('fixed-window', 50, 2000),
      spec('sliding-window', 7, 500),
      spec('sliding-window', 20, 1000),
      spec('sliding-window', 3, 300),
      spec('sliding-log', 7, 500),
      spec('sliding-log', 20, 1000),
      spec('sliding-log', 3, 300),
    ];
    for (const s of specs) {
      const cell: Cell = {};
      let t = T0 + rand(1000);
      for (let i = 0; i < 300; i++) {
        t += rand(4) === 0 ? rand(400) : rand(30);
        // Mostly 1, some heavier, some refunds (negative).
        const cost = rand(5) === 0 ? rand(4) + 2 : rand(8) === 0 ? -(rand(3) + 1) : 1;
        const now = t + rand(1000) / 1000; // sub-ms too
        const want = reference(s, cell, cost, now);
        const got = await tier.takeAt(s, 'k', cost, now);
        assert.deepEqual(got, want, `${s.algorithm} ${s.limit}/${s.windowMs} step ${i} at +${t - T0} ms cost ${cost}`);
      }
    }
  });

  test('on the Redis clock: allowed until the limit, then denied with a retry time', async () => {
    for (const alg of ['gcra', 'fixed-window', 'sliding-window'] as const) {
      const s = spec(alg, 3, 60_000);
      if (leftInWindow(60_000) < 2000) await sleep(leftInWindow(60_000) + 10);
      const got = [];
      for (let i = 0; i < 4; i++) got.push(await tier.take(s, 'k', 1));
      assert.deepEqual(got.map((g) => g.allowed), [true, true, true, false], alg);
      assert.deepEqual(got.map((g) => g.remaining), [2, 1, 0, 0], alg);
      const last = got[3]!;
      assert.ok(last.retryAfterMs > 0 && last.retryAfterMs <= 60_000, `${alg} retryAfter ${last.retryAfterMs}`);
      assert.ok(last.resetMs > 0 && last.resetMs <= 60_000, `${alg} reset ${last.resetMs}`);
      const ttl = (await tier.peek(s, 'k')).ttlMs;
      assert.ok(ttl > 0 && ttl <= 121_000, `${alg} ttl ${ttl}`);
    }
  });

  test('exact under concurrency: 2,000 concurrent takes against a limit of 500 admit exactly 500', async () => {
    // Windows of an hour (gcra: one unit per 7.2 s): nothing refills or rolls over during the burst.
    const W = 3_600_000;
    if (leftInWindow(W) < 10_000) await sleep(leftInWindow(W) + 10);
    for (const alg of ['gcra', 'fixed-window', 'sliding-window', 'sliding-log'] as const) {
      const s = spec(alg, 500, W);
      const out = await Promise.all(Array.from({ length: 2000 }, () => tier.take(s, 'hot', 1)));
      assert.equal(out.filter((o) => o.allowed).length, 500, alg);
      const rem = out.filter((o) => o.allowed).map((o) => o.remaining).sort((a, b) => a - b);
      assert.deepEqual(rem, Array.from({ length: 500 }, (_, i) => i), `${alg}: each remaining count handed out once`);
    }
  });

  test('two tiers (two gateways) share one limit exactly', async () => {
    const other = new RedisTier({ url: srv.url, deadlineMs: 2000, keyPrefix: 'wt:rl' });
    try {
      await ready(other);
      const W = 3_600_000;
      if (leftInWindow(W) < 10_000) await sleep(leftInWindow(W) + 10);
      for (const alg of ['gcra', 'fixed-window', 'sliding-window', 'sliding-log'] as const) {
        const s = spec(alg, 200, W);
        const twin = { ...s }; // the other gateway's own copy of the config
        const out = await Promise.all(Array.from({ length: 600 }, (_, i) => (i % 2 ? tier.take(s, 'shared', 1) : other.take(twin, 'shared', 1))));
        assert.equal(out.filter((o) => o.allowed).length, 200, alg);
      }
    } finally {
      await other.close();
    }
  });

  test('cost > 1 on the Redis clock, and reset', async () => {
    const W = 3_600_000;
    if (leftInWindow(W) < 10_000) await sleep(leftInWindow(W) + 10);
    for (const alg of ['gcra', 'fixed-window', 'sliding-window', 'sliding-log'] as const) {
      const s = spec(alg, 10, W);
      assert.deepEqual([(await tier.take(s, 'c', 4)).remaining, (await tier.take(s, 'c', 4)).remaining], [6, 2], alg);
      const no = await tier.take(s, 'c', 4);
      assert.equal(no.allowed, false, alg);
      assert.equal(no.remaining, 2, alg);
      assert.equal((await tier.take(s, 'c', 2)).allowed, true, alg);
      assert.equal((await tier.take(s, 'c', 0)).allowed, true, `${alg}: cost 0 only reads`);
      assert.notEqual((await tier.peek(s, 'c')).raw, null);
      assert.equal(await tier.reset(s, 'c'), true);
      assert.equal(await tier.reset(s, 'c'), false);
      assert.deepEqual(await tier.peek(s, 'c'), { key: redisKey('wt:rl', s, 'c'), raw: null, ttlMs: -2 });
      assert.equal((await tier.take(s, 'c', 10)).allowed, true, `${alg}: the full quota after reset`);
    }
    await assert.rejects(tier.take(spec('gcra', 1, 1), 'c', 1.5), RangeError);
    await assert.rejects(tier.take(spec('gcra', 1, 1), 'c', -1), RangeError);
    await assert.rejects(tier.take(spec('gcra', 0, 1), 'c', 1), RangeError);
  });

  test('a key of another type (the algorithm changed under the same id) is replaced, not an error', async () => {
    const s = spec('fixed-window', 2, 60_000);
    await direct.set(redisKey('wt:rl', s, 'k'), 'junk');
    assert.equal((await tier.take(s, 'k', 1)).allowed, true);
    const g = { ...spec('gcra', 2, 60_000), id: s.id };
    assert.equal((await tier.take(g, 'k', 1)).allowed, true, 'gcra over a hash');
    assert.equal((await tier.take({ ...spec('sliding-window', 2, 60_000), id: s.id }, 'k', 1)).allowed, true, 'sliding over a string');
    assert.equal((await tier.take({ ...spec('sliding-log', 2, 60_000), id: s.id }, 'k', 1)).allowed, true, 'log over a hash');
    assert.equal((await tier.take(g, 'k', 1)).allowed, true, 'gcra over a list');
  });

  test('hashTag follows the Redis Cluster rule', () => {
    assert.equal(hashTag('p:{r:k}'), 'r:k');
    assert.equal(hashTag('p:{}x{a}'), 'p:{}x{a}', 'empty tag: the whole key');
    assert.equal(hashTag('{a}:{b}'), 'a', 'the first tag only');
    assert.equal(hashTag('plain'), 'plain');
    assert.equal(hashTag('p{:{r:k}'), ':{r:k', 'the first { and the first } after it');
    assert.equal(hashTag(redisKey('wt:rl', { id: 'r' }, 'x')), 'r:x');
  });

  test('batching: concurrent takes across keys and algorithms decide exactly as the same takes one by one', async () => {
    // Windows of seconds on the test clock, instants well inside them: no state expires (in real
    // time) while it still matters, so the reference model (which has no expiry) applies.
    const base = [
      spec('gcra', 7, 7000),
      spec('gcra', 3, 3000, 5),
      spec('fixed-window', 9, 5000),
      spec('fixed-window', 40, 20_000),
      spec('sliding-window', 7, 4000),
      spec('sliding-window', 20, 10_000),
      spec('sliding-log', 8, 6000),
    ];
    const keys = ['a', 'b', 'c', 'x'.repeat(300)];
    const tiers: [string, RedisTier][] = [['hash-tag', tier]];
    const mk = (o: Partial<RedisTierOptions>) => new RedisTier({ url: srv.url, deadlineMs: 2000, keyPrefix: 'wt:rl', ...o });
    const extra = [mk({ batch: 'all' }), mk({ batch: 'all', maxBatch: 7 }), mk({ maxBatch: 3, flush: 'microtask' }), mk({ batch: 'all', flush: 'microtask' })];
    tiers.push(['all', extra[0]!], ['all, maxBatch 7', extra[1]!], ['hash-tag, maxBatch 3, microtask', extra[2]!], ['all, microtask', extra[3]!]);
    try {
      for (const t of extra) await ready(t);
      for (const [name, t] of tiers) {
        const seqSpecs = base.map(twin);
        const conSpecs = base.map(twin);
        const cells = base.map(() => new Map<string, Cell>());
        // 12 instants 3 s apart; at each, 150 takes at once (one turn) against 150 awaited one after another.
        for (let round = 0; round < 12; round++) {
          const now = T0 + round * 3000 + 250 + (round % 3) * 0.25;
          const ops = mixedOps(base, keys, 150, 1000 + round);
          const concurrent = await Promise.all(ops.map((o) => t.takeAt(conSpecs[o.s]!, o.key, o.cost, now)));
          for (let i = 0; i < ops.length; i++) {
            const o = ops[i]!;
            const one = await t.takeAt(seqSpecs[o.s]!, o.key, o.cost, now);
            const cell = cells[o.s]!.get(o.key) ?? {};
            cells[o.s]!.set(o.key, cell);
            const want = reference(base[o.s]!, cell, o.cost, now);
            assert.deepEqual(one, want, `${name}: one by one, round ${round} take ${i}`);
            assert.deepEqual(concurrent[i], want, `${name}: batched, round ${round} take ${i} (${base[o.s]!.algorithm} ${o.key.slice(0, 5)} cost ${o.cost})`);
          }
          // The state left in Redis is the same too.
          const pairs = base.flatMap((_, i) => keys.map((k) => [i, k] as const));
          const states = await Promise.all(pairs.map(([i, k]) => Promise.all([t.peek(seqSpecs[i]!, k), t.peek(conSpecs[i]!, k)])));
          for (let j = 0; j < pairs.length; j++) {
            const [a, b] = states[j]!;
            assert.deepEqual(b.raw, a.raw, `${name}: round ${round}, state of ${base[pairs[j]![0]]!.algorithm} ${pairs[j]![1].slice(0, 5)}`);
          }
        }
      }
    } finally {
      await Promise.all(extra.map((t) => t.close()));
    }
  });

  test('batching: one key under changing algorithms and over odd stored values, batched as one by one', async () => {
    // The same id under three algorithms (a limit whose algorithm changed), on keys that start out
    // holding values the scripts did not write: every take of a turn in one call, against one by one.
    // [what, the algorithm of the first takes, how the keys start]
    const starts: [string, number, (k: string) => Promise<unknown>][] = [
      ['absent', 0, async () => undefined],
      // T = 833334 µs: after one take the TAT is now + 834000.5 µs, which the '%.0f' round trip makes now + 834000 (reset 834, not 835).
      ['fractional TAT', 0, (k) => direct.set(k, String((T0 + 250.5) * 1000 + 666.5))],
      ['junk string', 0, (k) => direct.set(k, 'junk')],
      // 1.5 + 1 is stored as '2' (round half to even): the next take sees 2, not 2.5.
      ['fractional counts, fixed first', 1, (k) => direct.hset(k, 'w', String(T0 / 5000), 'c', '1.5', 'p', '1.5')],
      ['fractional counts, sliding first', 2, (k) => direct.hset(k, 'w', String(T0 / 5000), 'c', '1.5', 'p', '1.5')],
      ['previous window, sliding first', 2, (k) => direct.hset(k, 'w', String(T0 / 5000 - 1), 'c', '4.5')],
      ['a list', 1, (k) => direct.rpush(k, 'x')],
    ];
    let rnd = 7;
    const rand = (m: number) => {
      rnd = (rnd * 1103515245 + 12345) % 2147483648;
      return rnd % m;
    };
    for (const [what, first, init] of starts) {
      const ids = [`m${++seq}`, `m${++seq}`];
      const algs = (id: string): LimitSpec[] => [
        { id, algorithm: 'gcra', limit: 6, windowMs: 5000 },
        { id, algorithm: 'fixed-window', limit: 6, windowMs: 5000 },
        { id, algorithm: 'sliding-window', limit: 6, windowMs: 5000 },
      ];
      const [batched, single] = ids.map(algs) as [LimitSpec[], LimitSpec[]];
      for (const id of ids) await init(redisKey('wt:rl', { id }, 'k'));
      // Two of the first algorithm (costs 1 then 0: the second reports what the first left), then every switch, then at random.
      const ops = Array.from({ length: 40 }, (_, i) => ({ a: i < 2 ? first : i < 8 ? (first + i) % 3 : rand(3), cost: i < 2 ? 1 - i : rand(4) }));
      const now = T0 + 250.5;
      const got = await Promise.all(ops.map((o) => tier.takeAt(batched[o.a]!, 'k', o.cost, now)));
      for (let i = 0; i < ops.length; i++) {
        const o = ops[i]!;
        assert.deepEqual(got[i], await tier.takeAt(single[o.a]!, 'k', o.cost, now), `${what}: take ${i} (${single[o.a]!.algorithm}, cost ${o.cost})`);
      }
      const [x, y] = await Promise.all([tier.peek(batched[0]!, 'k'), tier.peek(single[0]!, 'k')]);
      assert.deepEqual(x!.raw, y!.raw, `${what}: state`);
      assert.ok(Math.abs(x!.ttlMs - y!.ttlMs) < 200, `${what}: expiry ${x!.ttlMs} vs ${y!.ttlMs}`);
    }
  });

  test('batching: one script call per hash tag per turn (per turn with batch: all), at most maxBatch takes each', async () => {
    const s = spec('fixed-window', 1_000_000, 3_600_000);
    const g = spec('gcra', 1_000_000, 3_600_000);
    /** Script calls made by `n` concurrent takes, take i on key k(i mod keys) under s or g alternately. */
    const count = async (t: RedisTier, n: number, keys: number, both = true): Promise<number> => {
      const before = await scriptCalls(direct);
      const out = await Promise.all(Array.from({ length: n }, (_, i) => t.take(both && i % 2 ? g : s, `k${i % keys}`, 1)));
      assert.ok(out.every((o) => o.allowed));
      return (await scriptCalls(direct)) - before;
    };
    assert.equal(await count(tier, 100, 1, false), 1, 'one key: one call');
    assert.equal(await count(tier, 300, 1, false), 3, 'one key, 300 takes: 128 + 128 + 44');
    assert.equal(await count(tier, 400, 20, false), 20, 'hash-tag: one call per key (20 keys)');
    assert.equal(await count(tier, 40, 40), 40, 'hash-tag: one call per key (40 keys under two limits)');
    const all = new RedisTier({ url: srv.url, deadlineMs: 2000, keyPrefix: 'wt:rl', batch: 'all' });
    const braced = new RedisTier({ url: srv.url, deadlineMs: 2000, keyPrefix: 'wt:{rl}' });
    try {
      await ready(all);
      await ready(braced);
      assert.equal(await count(all, 200, 10), 2, 'all: 128 + 72, whatever the keys');
      assert.equal(await count(braced, 200, 10), 2, 'a prefix with a hash tag: every key in one slot, so batched together');
      // Takes in different turns are different calls.
      const before = await scriptCalls(direct);
      const a = tier.take(s, 'turns', 1);
      await new Promise((r) => setImmediate(r));
      const b = tier.take(s, 'turns', 1);
      assert.deepEqual([(await a).remaining, (await b).remaining], [999_999, 999_998]);
      assert.equal((await scriptCalls(direct)) - before, 2);
    } finally {
      await all.close();
      await braced.close();
    }
  });

  test('batching: exact under concurrency on the Redis clock, several hot keys in one call', async () => {
    const W = 3_600_000;
    if (leftInWindow(W) < 10_000) await sleep(leftInWindow(W) + 10);
    const all = new RedisTier({ url: srv.url, deadlineMs: 2000, keyPrefix: 'wt:rl', batch: 'all', maxBatch: 1000 });
    try {
      await ready(all);
      for (const alg of ['gcra', 'fixed-window', 'sliding-window'] as const) {
        const s = spec(alg, 300, W);
        const out = await Promise.all(Array.from({ length: 4000 }, (_, i) => (i % 2 ? all : tier).take(s, `hot${i % 4}`, 1)));
        for (let k = 0; k < 4; k++) {
          const mine = out.filter((_, i) => i % 4 === k);
          assert.equal(mine.filter((o) => o.allowed).length, 300, `${alg} hot${k}`);
          const rem = mine.filter((o) => o.allowed).map((o) => o.remaining).sort((a, b) => a - b);
          assert.deepEqual(rem, Array.from({ length: 300 }, (_, i) => i), `${alg} hot${k}: each remaining count handed out once`);
        }
      }
    } finally {
      await all.close();
    }
  });

  test('batching: peek and reset see the takes issued before them; close refuses queued takes', async () => {
    const s = spec('fixed-window', 10, 3_600_000);
    if (leftInWindow(3_600_000) < 10_000) await sleep(leftInWindow(3_600_000) + 10);
    const takes = [tier.take(s, 'o', 3), tier.take(s, 'o', 2)];
    const p = tier.peek(s, 'o');
    assert.equal((await p).raw?.[3], '5', 'the queued takes went first');
    await Promise.all(takes);
    const t2 = tier.take(s, 'o', 1);
    assert.equal(await tier.reset(s, 'o'), true, 'the queued take created state before the reset');
    assert.equal((await t2).remaining, 4);
    const other = new RedisTier({ url: srv.url, deadlineMs: 2000, keyPrefix: 'wt:rl' });
    await ready(other);
    const queued = other.take(s, 'o', 1).catch((e: unknown) => codeOf(e));
    await other.close();
    assert.equal(await queued, 'WICKET_ERR_REDIS_UNAVAILABLE');
    assert.equal((await tier.peek(s, 'o')).raw, null, 'the refused take took nothing');
  });

  test('batching: a turn whose deadline passes before it is sent times out, and later takes start a new turn', async () => {
    const t = new RedisTier({ url: srv.url, deadlineMs: 150, keyPrefix: 'wt:rl', failureThreshold: 1_000_000 });
    try {
      await ready(t);
      const s = spec('fixed-window', 1000, 3_600_000);
      const out = await new Promise<(string | number)[]>((resolve) => {
        // A take from a check-phase callback: its turn is sent on the next iteration's check phase;
        // the loop is then blocked past the deadline, so the turn's timer comes first.
        setImmediate(() => {
          const a = t.take(s, 'late', 1).then((d) => d.remaining, (e: unknown) => String(codeOf(e)));
          // Due after the turn's timer, in the same timers phase: joins no expired turn.
          let b: Promise<string | number> = Promise.resolve('not run');
          setTimeout(() => {
            b = t.take(s, 'late', 1).then((d) => d.remaining, (e: unknown) => String(codeOf(e)));
          }, 160);
          const until = performance.now() + 250;
          while (performance.now() < until);
          void a.then(async (x) => resolve([x, await sleep(50).then(() => Promise.race([b, sleep(1000).then(() => 'never settled')]))]));
        });
      });
      assert.equal(out[0], 'WICKET_ERR_REDIS_TIMEOUT', 'blocked past its deadline');
      assert.equal(typeof out[1], 'number', `the next take is decided: ${String(out[1])}`);
    } finally {
      await t.close();
    }
  });

  test('redactUrl hides the password', () => {
    assert.equal(redactUrl('redis://user:s3cret@host:6379/0'), 'redis://user:***@host:6379/0');
    assert.equal(redactUrl('redis://:s3cret@host:6379'), 'redis://:***@host:6379');
    assert.equal(redactUrl('redis://host:6379'), 'redis://host:6379');
  });
});

describe('RedisTier when Redis fails', { skip }, () => {
  let srv: RedisServer;
  let tier: RedisTier;
  const DEADLINE = 50;
  const SLACK = 200;
  const logs: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const log = {
    info: (obj: object, msg?: string) => void logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    warn: (obj: object, msg?: string) => void logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
  };
  const s = spec('fixed-window', 1_000_000, 3_600_000);

  before(async () => {
    srv = await startRedisServer();
    tier = new RedisTier({ url: srv.url, deadlineMs: DEADLINE, keyPrefix: 'wt:rl', failureThreshold: 3, openMs: 300, reconnectMaxMs: 200, log });
    await ready(tier);
  });

  after(async () => {
    srv?.resume();
    await tier?.close();
    await srv?.stop();
  });

  interface Outcome {
    ms: number;
    code?: string;
    allowed?: boolean;
    /** Settled before the event loop turned once (no I/O, no timer awaited): independent of CPU load. */
    atOnce: boolean;
  }

  /** One take, timed, and whether it settled without waiting on anything. */
  async function one(): Promise<Outcome> {
    const t = performance.now();
    let settled = false;
    const p = tier.take(s, 'k', 1).then(
      (r) => ((settled = true), { allowed: r.allowed }),
      (e: unknown) => {
        settled = true;
        assert.ok(e instanceof RedisTierError, `a RedisTierError, not ${String(e)}`);
        return { code: codeOf(e) };
      },
    );
    await new Promise((r) => setImmediate(r));
    const atOnce = settled;
    const r = await p;
    return { ...r, ms: performance.now() - t, atOnce };
  }

  /** `n` rounds of `concurrent` takes. */
  async function timed(n: number, concurrent = 1): Promise<Outcome[]> {
    const out: Outcome[] = [];
    for (let i = 0; i < n; i++) out.push(...(await Promise.all(Array.from({ length: concurrent }, one))));
    return out;
  }

  /** The "does not wait" check: every call settled at once, and (loosely) fast in total. */
  function noWait(rs: Outcome[], what: string): void {
    for (const r of rs) {
      assert.equal(r.code, 'WICKET_ERR_REDIS_UNAVAILABLE', what);
      assert.ok(r.atOnce, `${what}: settled without waiting on I/O or a timer`);
    }
    const mean = rs.reduce((m, r) => m + r.ms, 0) / rs.length;
    assert.ok(mean < 5, `${what}: ${mean.toFixed(2)} ms per call on average`);
  }

  test('stalled Redis (SIGSTOP): calls end at the deadline, then the circuit skips Redis', async () => {
    assert.equal((await tier.take(s, 'k', 1)).allowed, true);
    srv.pause();
    try {
      // 50 concurrent calls: all time out at the deadline (the circuit opens on the way).
      const burst = await timed(1, 50);
      for (const r of burst) {
        assert.equal(r.code, 'WICKET_ERR_REDIS_TIMEOUT');
        assert.ok(r.ms < DEADLINE + SLACK, `waited ${r.ms.toFixed(1)} ms`);
      }
      assert.equal(tier.circuit, 'open');
      assert.equal(tier.available, false);
      noWait(await timed(100), 'open circuit');
      // After openMs one probe goes (and times out); the rest are refused at once meanwhile.
      await sleep(350);
      assert.equal(tier.available, true, 'due a probe');
      const probe = tier.take(s, 'k', 1).catch((e: unknown) => codeOf(e));
      assert.equal(tier.circuit, 'half-open');
      noWait(await timed(10), 'half-open, probe in flight');
      assert.equal(await probe, 'WICKET_ERR_REDIS_TIMEOUT');
      assert.equal(tier.circuit, 'open');
    } finally {
      srv.resume();
    }
    // Resumed: the next probe closes the circuit; decisions resume.
    await sleep(350);
    assert.equal((await tier.take(s, 'k', 1)).allowed, true);
    assert.equal(tier.circuit, 'closed');
    assert.equal(tier.available, true);
    assert.ok(logs.some((l) => l.msg?.includes('circuit opened')));
    assert.ok(logs.some((l) => l.msg?.includes('circuit closed')));
  });

  test('stalled Redis: every take of a batch (several keys, algorithms, turns, and batch: all) rejects by the deadline', async () => {
    // Circuit out of the way (a huge threshold): every batch is sent and must time out by itself.
    const mk = (o: Partial<RedisTierOptions>) => new RedisTier({ url: srv.url, deadlineMs: DEADLINE, keyPrefix: 'wt:rl', failureThreshold: 1_000_000, ...o });
    const tiers = [mk({}), mk({ batch: 'all' }), mk({ batch: 'all', maxBatch: 5 }), mk({ flush: 'microtask' })];
    const specs = [spec('gcra', 1000, 60_000), spec('fixed-window', 1000, 60_000), spec('sliding-window', 1000, 60_000)];
    try {
      for (const t of tiers) {
        await ready(t);
        assert.equal((await t.take(specs[0]!, 'warm', 1)).allowed, true);
      }
      srv.pause();
      try {
        const outcomes: Promise<{ ms: number; code?: string }>[] = [];
        const fire = () => {
          for (let i = 0; i < 60; i++) {
            const t0 = performance.now();
            const t = tiers[i % tiers.length]!;
            outcomes.push(
              t.take(specs[i % 3]!, `k${i % 5}`, 1).then(
                () => ({ ms: performance.now() - t0 }),
                (e: unknown) => {
                  assert.ok(e instanceof RedisTierError, String(e));
                  return { ms: performance.now() - t0, code: codeOf(e) };
                },
              ),
            );
          }
        };
        fire();
        await new Promise((r) => setImmediate(r));
        fire(); // a second turn while the first is in flight
        await sleep(10);
        fire(); // and a third, later
        const rs = await Promise.all(outcomes);
        assert.equal(rs.length, 180);
        for (const r of rs) {
          assert.equal(r.code, 'WICKET_ERR_REDIS_TIMEOUT');
          assert.ok(r.ms < DEADLINE + SLACK, `waited ${r.ms.toFixed(1)} ms`);
        }
      } finally {
        srv.resume();
      }
      // Redis answers again: late replies of the timed-out batches are ignored, new takes are decided.
      for (const t of tiers) assert.equal((await t.take(specs[1]!, 'after', 1)).allowed, true);
    } finally {
      await Promise.all(tiers.map((t) => t.close()));
    }
  });

  test('stalled Redis: a failed batch counts once per take towards the circuit', async () => {
    const t = new RedisTier({ url: srv.url, deadlineMs: DEADLINE, keyPrefix: 'wt:rl', failureThreshold: 3, openMs: 60_000 });
    try {
      await ready(t);
      assert.equal((await t.take(s, 'b', 1)).allowed, true);
      srv.pause();
      try {
        // Two takes of one key: one script call, two failures; still closed.
        const two = await Promise.all([t.take(s, 'b', 1), t.take(s, 'b', 1)].map((p) => p.catch((e: unknown) => codeOf(e))));
        assert.deepEqual(two, ['WICKET_ERR_REDIS_TIMEOUT', 'WICKET_ERR_REDIS_TIMEOUT']);
        assert.equal(t.circuit, 'closed');
        assert.equal(await t.take(s, 'b', 1).catch((e: unknown) => codeOf(e)), 'WICKET_ERR_REDIS_TIMEOUT');
        assert.equal(t.circuit, 'open', 'the third failed take opens it');
      } finally {
        srv.resume();
      }
    } finally {
      await t.close();
    }
  });

  test('dead Redis: calls fail fast with UNAVAILABLE; restarted on the same port: used again', async () => {
    assert.equal((await tier.take(s, 'k', 1)).allowed, true);
    await srv.kill();
    // The first calls may meet the dying connection; none waits past the deadline.
    const first = await timed(20);
    for (const r of first) {
      assert.ok(r.code === 'WICKET_ERR_REDIS_UNAVAILABLE' || r.code === 'WICKET_ERR_REDIS_TIMEOUT', String(r.code));
      assert.ok(r.ms < DEADLINE + SLACK, `waited ${r.ms.toFixed(1)} ms`);
    }
    assert.equal(tier.available, false);
    noWait(await timed(200), 'redis dead');
    await assert.rejects(tier.peek(s, 'k'), (e: unknown) => codeOf(e) === 'WICKET_ERR_REDIS_UNAVAILABLE');
    await assert.rejects(tier.reset(s, 'k'), (e: unknown) => codeOf(e) === 'WICKET_ERR_REDIS_UNAVAILABLE');
    assert.ok(logs.some((l) => l.msg?.includes('connection lost')));

    await srv.restart();
    await ready(tier, 5000);
    const r = await tier.take(s, 'k', 1);
    assert.equal(r.allowed, true);
    assert.equal(r.remaining, s.limit - 1, 'a fresh Redis: fresh state');
    assert.ok(logs.some((l) => l.msg === 'redis reconnected'));
  });

  test('unreachable at start: UNAVAILABLE at once; the password never reaches a log line', async () => {
    const [port] = await freePorts(1);
    const mine: string[] = [];
    const l = { info: (o: object, m?: string) => void mine.push(JSON.stringify(o) + m), warn: (o: object, m?: string) => void mine.push(JSON.stringify(o) + m) };
    const t = new RedisTier({ url: `redis://user:s3cret-pw@127.0.0.1:${port}`, deadlineMs: DEADLINE, keyPrefix: 'x', log: l });
    try {
      let settled = false;
      const p = t.take(s, 'k', 1).catch((e: unknown) => ((settled = true), codeOf(e)));
      await new Promise((r) => setImmediate(r));
      assert.ok(settled, 'not connected: refused at once');
      assert.equal(await p, 'WICKET_ERR_REDIS_UNAVAILABLE');
      assert.ok(await until(() => mine.length > 0, 2000), 'the outage is logged');
      assert.ok(mine.some((m) => m.includes('***') && m.includes('unreachable')), mine.join('\n'));
      assert.ok(!mine.some((m) => m.includes('s3cret-pw')), mine.join('\n'));
    } finally {
      await t.close();
    }
    await assert.rejects(t.take(s, 'k', 1), (e: unknown) => codeOf(e) === 'WICKET_ERR_REDIS_UNAVAILABLE', 'closed');
  });
});
