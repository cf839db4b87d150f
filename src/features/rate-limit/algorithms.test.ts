// The limit algorithms against hand-computed sequences. Every state goes
// through BigInt.asIntN(64) between takes, as it does in the shared-memory
// cell (a BigInt64Array): encodings whose top bit is set must survive that.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { localAlgorithm, refund, take, ttlSeconds, type Decision, type LimitSpec, type Verdict } from './algorithms.js';

/** 2023-11-14T22:13:20Z: a multiple of 1000, 4000 and 10 000 ms. */
const T = 1_700_000_000_000;

/** A cell holding one limit's state, as the local tier keeps it. */
class Cell {
  state = 0n;
  constructor(readonly spec: LimitSpec) {}
  /** One take at `nowMs`; a denied take must hand back the very state it got. */
  take(nowMs: number, cost = 1): Decision {
    const v: Verdict = { allowed: false, remaining: -1, resetMs: -1, retryAfterMs: -1 };
    const old = this.state;
    const next = take(this.spec, old, nowMs, cost, v);
    if (!v.allowed) assert.equal(next, old, 'a denied take returns the old state unchanged');
    this.state = BigInt.asIntN(64, next);
    return { ...v };
  }
  /** Gives back `cost` units at `nowMs`. */
  refund(nowMs: number, cost = 1): void {
    this.state = BigInt.asIntN(64, refund(this.spec, this.state, nowMs, cost));
  }
}

const ok = (remaining: number, resetMs: number): Decision => ({ allowed: true, remaining, resetMs, retryAfterMs: 0 });
const no = (remaining: number, resetMs: number, retryAfterMs: number): Decision => ({ allowed: false, remaining, resetMs, retryAfterMs });

describe('gcra', () => {
  // 10 per 1000 ms: one unit every 100 ms (100 000 µs); burst 5: capacity 500 000 µs.
  const spec: LimitSpec = { algorithm: 'gcra', limit: 10, windowMs: 1000, burst: 5 };

  test('burst of 5 at once, then one every 100 ms', () => {
    const c = new Cell(spec);
    assert.deepEqual(c.take(T), ok(4, 100));
    assert.equal(c.state, BigInt(T * 1000 + 100_000), 'state: theoretical arrival time in µs');
    assert.deepEqual(c.take(T), ok(3, 200));
    assert.deepEqual(c.take(T), ok(2, 300));
    assert.deepEqual(c.take(T), ok(1, 400));
    assert.deepEqual(c.take(T), ok(0, 500));
    assert.equal(c.state, BigInt(T * 1000 + 500_000));
    // Bucket empty: the next unit comes 100 ms after the first take.
    assert.deepEqual(c.take(T), no(0, 500, 100));
    assert.deepEqual(c.take(T + 50), no(0, 450, 50));
    assert.deepEqual(c.take(T + 99), no(0, 401, 1));
    assert.deepEqual(c.take(T + 100), ok(0, 500));
    assert.deepEqual(c.take(T + 100), no(0, 500, 100));
    // Saturating at 1 ms steps for 1 s admits exactly one per 100 ms.
    let admitted = 0;
    for (let now = T + 101; now <= T + 1100; now++) {
      const d = c.take(now);
      if (d.allowed) {
        admitted++;
        assert.equal(now % 100, 0, `admitted at +${now - T} ms, on a 100 ms tick`);
      }
    }
    assert.equal(admitted, 10);
    assert.equal(c.state, BigInt((T + 1100) * 1000 + 500_000));
  });

  test('idle time refills up to the burst, not beyond', () => {
    const c = new Cell(spec);
    for (let i = 0; i < 5; i++) assert.equal(c.take(T).allowed, true);
    // 250 ms later: 2.5 units back; two whole ones.
    assert.deepEqual(c.take(T + 250), ok(1, 350));
    assert.deepEqual(c.take(T + 250), ok(0, 450));
    assert.deepEqual(c.take(T + 250), no(0, 450, 50));
    // Long idle: a full burst again, no more.
    const later = T + 60_000;
    for (let i = 4; i >= 0; i--) assert.deepEqual(c.take(later), ok(i, (5 - i) * 100));
    assert.equal(c.take(later).allowed, false);
  });

  test('cost > 1', () => {
    const c = new Cell(spec);
    assert.deepEqual(c.take(T, 3), ok(2, 300));
    // 3 more would need 600 000 µs of a 500 000 µs capacity: 100 ms short.
    assert.deepEqual(c.take(T, 3), no(2, 300, 100));
    assert.deepEqual(c.take(T, 2), ok(0, 500));
    assert.deepEqual(c.take(T + 300, 3), ok(0, 500));
  });

  test('a cost above the burst is never admitted', () => {
    const c = new Cell(spec);
    assert.equal(c.take(T, 6).allowed, false);
    assert.equal(c.take(T + 3_600_000, 6).allowed, false);
    assert.equal(c.state, 0n);
  });

  test('a rate that is not a whole number of µs per unit does not drift', () => {
    // 3 per 1000 ms: 333 333.3 µs per unit, stored rounded up to the µs.
    // Burst 2 absorbs the sub-ms lateness of 1 ms polling.
    const c = new Cell({ algorithm: 'gcra', limit: 3, windowMs: 1000, burst: 2 });
    let admitted = 0;
    for (let now = T; now < T + 30_000; now++) if (c.take(now).allowed) admitted++;
    // The burst, then one per 333.3 ms: 2 + floor(29 999 * 3 / 1000).
    assert.equal(admitted, 2 + 89);
  });
});

describe('fixed window', () => {
  const spec: LimitSpec = { algorithm: 'fixed-window', limit: 3, windowMs: 1000, burst: 3 };

  test('counts to the limit, resets at the boundary', () => {
    const c = new Cell(spec);
    assert.deepEqual(c.take(T + 200), ok(2, 800));
    assert.equal(c.state, (BigInt(T / 1000) << 32n) | 1n, 'state: window id << 32 | count');
    assert.deepEqual(c.take(T + 200), ok(1, 800));
    assert.deepEqual(c.take(T + 500), ok(0, 500));
    assert.deepEqual(c.take(T + 500), no(0, 500, 500));
    assert.deepEqual(c.take(T + 999), no(0, 1, 1));
    // The next window: fresh.
    assert.deepEqual(c.take(T + 1000), ok(2, 1000));
    assert.equal(c.state, (BigInt(T / 1000 + 1) << 32n) | 1n);
    assert.deepEqual(c.take(T + 1999), ok(1, 1));
    // A window skipped: still fresh.
    assert.deepEqual(c.take(T + 3000), ok(2, 1000));
  });

  test('cost > 1', () => {
    const c = new Cell({ ...spec, limit: 10 });
    assert.deepEqual(c.take(T, 4), ok(6, 1000));
    assert.deepEqual(c.take(T, 4), ok(2, 1000));
    assert.deepEqual(c.take(T, 4), no(2, 1000, 1000));
    assert.deepEqual(c.take(T, 2), ok(0, 1000));
    assert.deepEqual(c.take(T, 1), no(0, 1000, 1000));
  });

  test('window id kept mod 2^32: wraps, and ids >= 2^31 survive the signed cell', () => {
    // windowMs 1: the window id is the ms timestamp, far beyond 32 bits.
    const c = new Cell({ ...spec, windowMs: 1 });
    const id = 2 ** 32 * 395 + 2 ** 32 - 1; // id32 = 0xffffffff: the stored i64 is negative
    assert.equal(c.take(id).allowed, true);
    assert.ok(c.state < 0n, 'top bit set: negative in the BigInt64 cell');
    assert.deepEqual(c.take(id), ok(1, 1));
    assert.deepEqual(c.take(id), ok(0, 1));
    assert.deepEqual(c.take(id), no(0, 1, 1));
    // Next window: id32 wraps to 0, a different window.
    assert.deepEqual(c.take(id + 1), ok(2, 1));
    assert.equal(c.state, 1n);
    assert.deepEqual(c.take(id + 1), ok(1, 1));
    // An id 2^31 + k behaves like any other.
    const c2 = new Cell({ ...spec, windowMs: 1 });
    const hi = 2 ** 32 * 395 + 2 ** 31 + 7;
    for (let i = 2; i >= 0; i--) assert.deepEqual(c2.take(hi), ok(i, 1));
    assert.equal(c2.take(hi).allowed, false);
    assert.equal(Number(BigInt.asUintN(64, c2.state) >> 32n), 2 ** 31 + 7);
  });
});

describe('sliding window (counter approximation)', () => {
  // limit 8 per 1000 ms; times at multiples of 125 ms keep the weights exact (k/8).
  const spec: LimitSpec = { algorithm: 'sliding-window', limit: 8, windowMs: 1000, burst: 8 };
  const decode = (s: bigint) => ({ id16: Number((s >> 48n) & 0xffffn), cur: Number((s >> 24n) & 0xffffffn), prev: Number(s & 0xffffffn) });

  test('previous window weighs (1 - elapsed/window); retryAfter is when the estimate lets one in', () => {
    const c = new Cell(spec);
    const idA = T / 1000;
    // Window A: 8 at once.
    for (let i = 7; i >= 0; i--) assert.deepEqual(c.take(T + 100), ok(i, 900));
    // No previous window: the wait is the rest of this one.
    assert.deepEqual(c.take(T + 100), no(0, 900, 900));
    assert.deepEqual(decode(c.state), { id16: idA & 0xffff, cur: 8, prev: 0 });
    // Window B, elapsed 0: estimate 8*(1-0) + 0 = 8 -> full. One fits when 8*(1-e/1000) <= 7: e = 125.
    assert.deepEqual(c.take(T + 1000), no(0, 1000, 125));
    assert.deepEqual(decode(c.state), { id16: idA & 0xffff, cur: 8, prev: 0 }, 'denied: not even rolled over');
    // e=125: estimate 7; +1 = 8 fits.
    assert.deepEqual(c.take(T + 1125), ok(0, 875));
    assert.deepEqual(decode(c.state), { id16: (idA + 1) & 0xffff, cur: 1, prev: 8 });
    // estimate 8: full; the next fits when 8*(1-e/1000) + 1 <= 7: e = 250.
    assert.deepEqual(c.take(T + 1125), no(0, 875, 125));
    assert.deepEqual(c.take(T + 1250), ok(0, 750));
    // e=500: estimate 4 + 2 = 6: two more.
    assert.deepEqual(c.take(T + 1500), ok(1, 500));
    assert.deepEqual(c.take(T + 1500), ok(0, 500));
    // estimate 8; next when 8*(1-e/1000) + 4 <= 7: e = 625.
    assert.deepEqual(c.take(T + 1500), no(0, 500, 125));
    assert.deepEqual(decode(c.state), { id16: (idA + 1) & 0xffff, cur: 4, prev: 8 });
    // Window C: B's 4 become the previous count. estimate 4 -> 4 at once.
    for (let i = 3; i >= 0; i--) assert.deepEqual(c.take(T + 2000), ok(i, 1000));
    // estimate 8; next when 4*(1-e/1000) + 4 <= 7: e = 250.
    assert.deepEqual(c.take(T + 2000), no(0, 1000, 250));
    assert.deepEqual(c.take(T + 2250), ok(0, 750));
    // Window E (D skipped): nothing carried over.
    for (let i = 7; i >= 0; i--) assert.deepEqual(c.take(T + 4000), ok(i, 1000));
    assert.deepEqual(decode(c.state), { id16: (idA + 4) & 0xffff, cur: 8, prev: 0 });
  });

  test('a fractional estimate: remaining rounds down, admission is exact', () => {
    const c = new Cell(spec);
    for (let i = 0; i < 8; i++) c.take(T);
    // Window B at e=100: estimate 8*0.9 = 7.2; 7.2 + 1 > 8: denied, remaining floor(0.8) = 0.
    assert.deepEqual(c.take(T + 1100), no(0, 900, 25));
    // e=125: 7 + 1 fits.
    assert.equal(c.take(T + 1125).allowed, true);
  });

  test('cost > 1', () => {
    const c = new Cell(spec);
    assert.deepEqual(c.take(T, 3), ok(5, 1000));
    assert.deepEqual(c.take(T, 3), ok(2, 1000));
    // cur 6, no previous window: wait for the window's end.
    assert.deepEqual(c.take(T, 3), no(2, 1000, 1000));
    assert.deepEqual(c.take(T, 2), ok(0, 1000));
    // Window B at e=500: estimate 8*0.5 = 4; cost 3 -> 7 fits, remaining 1.
    assert.deepEqual(c.take(T + 1500, 3), ok(1, 500));
    // estimate 7; cost 2 -> 9: next when 8*(1-e/1000) + 3 + 2 <= 8: e = 625.
    assert.deepEqual(c.take(T + 1500, 2), no(1, 500, 125));
    // A cost above the limit: the current window cannot hold it, wait for its end.
    assert.deepEqual(c.take(T + 1500, 9), no(1, 500, 500));
  });

  test('16-bit window id: adjacency across the wrap; ids >= 2^15 survive the signed cell', () => {
    const c = new Cell(spec);
    // A window whose id is 0xffff mod 2^16 (top bit of the i64 set), then the one after (id16 0).
    const w0 = (Math.floor(T / 1000 / 65536) * 65536 + 0xffff) * 1000;
    for (let i = 0; i < 8; i++) assert.equal(c.take(w0 + 500).allowed, true);
    assert.ok(c.state < 0n, 'id16 0xffff: negative in the BigInt64 cell');
    assert.deepEqual(decode(c.state), { id16: 0xffff, cur: 8, prev: 0 });
    // id16 0 is adjacent to 0xffff: the 8 carry over as the previous window.
    assert.deepEqual(c.take(w0 + 1000), no(0, 1000, 125));
    assert.deepEqual(c.take(w0 + 1500), ok(3, 500));
    assert.deepEqual(decode(c.state), { id16: 0, cur: 1, prev: 8 });
    // Two windows on across the wrap (0xfffe -> 0): nothing carried.
    const c2 = new Cell(spec);
    const w1 = w0 - 1000; // id16 0xfffe
    for (let i = 0; i < 8; i++) c2.take(w1);
    assert.deepEqual(decode(c2.state), { id16: 0xfffe, cur: 8, prev: 0 });
    assert.deepEqual(c2.take(w0 + 1000), ok(7, 1000));
    assert.deepEqual(decode(c2.state), { id16: 0, cur: 1, prev: 0 });
  });
});

test('ttlSeconds: long enough to carry the state forward', () => {
  // gcra: the time a full burst takes to drain (500 ms) -> 1 s, +1.
  assert.equal(ttlSeconds({ algorithm: 'gcra', limit: 10, windowMs: 1000, burst: 5 }), 2);
  assert.equal(ttlSeconds({ algorithm: 'fixed-window', limit: 10, windowMs: 4000, burst: 10 }), 5);
  // sliding: the previous window is still read during the next one.
  assert.equal(ttlSeconds({ algorithm: 'sliding-window', limit: 10, windowMs: 1000, burst: 10 }), 3);
});

describe('refund (a later limit of the same request said no)', () => {
  test('gcra: the arrival time moves back by cost x interval, never before now', () => {
    const c = new Cell({ algorithm: 'gcra', limit: 10, windowMs: 1000, burst: 5 });
    for (let i = 0; i < 5; i++) c.take(T);
    assert.equal(c.take(T).allowed, false);
    c.refund(T, 2);
    assert.deepEqual(c.take(T), ok(1, 400), 'two units back: one taken, one left');
    c.refund(T + 10_000, 3);
    assert.equal(c.state, BigInt((T + 10_000) * 1000), 'long idle: the arrival time is now, not in the past');
    const fresh = new Cell({ algorithm: 'gcra', limit: 10, windowMs: 1000, burst: 5 });
    fresh.refund(T);
    assert.equal(fresh.state, 0n, 'nothing taken: nothing to give back');
  });

  test('fixed window: off the current count, floored at 0; a past window is left alone', () => {
    const c = new Cell({ algorithm: 'fixed-window', limit: 3, windowMs: 1000, burst: 3 });
    for (let i = 0; i < 3; i++) c.take(T + 100);
    c.refund(T + 200);
    assert.deepEqual(c.take(T + 300), ok(0, 700), 'the unit given back is taken again');
    assert.equal(c.take(T + 300).allowed, false);
    c.refund(T + 400, 10);
    assert.deepEqual(c.take(T + 500, 3), ok(0, 500), 'floored at 0, not below');
    const before = c.state;
    c.refund(T + 1500);
    assert.equal(c.state, before, 'another window: nothing to give back');
  });

  test('sliding window: off the current count while it still counts (this window or as the previous one)', () => {
    const spec: LimitSpec = { algorithm: 'sliding-window', limit: 8, windowMs: 1000, burst: 8 };
    const c = new Cell(spec);
    for (let i = 0; i < 8; i++) c.take(T);
    c.refund(T + 500, 4);
    // Window B at e=0: the previous count is now 4, so 4 fit.
    for (let i = 3; i >= 0; i--) assert.deepEqual(c.take(T + 1000), ok(i, 1000));
    const d = new Cell(spec);
    for (let i = 0; i < 8; i++) d.take(T);
    d.refund(T + 1000, 4);
    assert.equal(d.take(T + 1000, 4).allowed, true, 'given back in the next window: the stored count becomes the previous one');
    const e = new Cell(spec);
    for (let i = 0; i < 8; i++) e.take(T);
    const before = e.state;
    e.refund(T + 2000, 4);
    assert.equal(e.state, before, 'two windows on: it no longer counts, left alone');
  });

  test('localAlgorithm: a sliding log falls back to the sliding window; the others are their own', () => {
    assert.equal(localAlgorithm('sliding-log'), 'sliding-window');
    for (const a of ['gcra', 'fixed-window', 'sliding-window'] as const) assert.equal(localAlgorithm(a), a);
  });
});
