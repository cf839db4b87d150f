// ShmStore over a plain SharedArrayBuffer (no addon). Times inside are ms
// since the segment's epoch, so a store built with an earlier epoch sees the
// same state later in time: `at(ms)` travels forward without waiting.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { F_ADMIN_DOWN, F_CHECK_DOWN, F_EJECTED, offsets } from './layout.js';
import type { Segment } from './segment.js';
import { ShmStore } from './shm-store.js';
import { ADMIT, ADMIT_TRIAL, type BreakerPolicy, type EjectPolicy } from './store.js';

function segment(): Segment {
  const layout = offsets({ targets: 4, upstreams: 2, workerSlots: 4, tableCells: 64 });
  return { name: '/unit', sab: new SharedArrayBuffer(layout.bytes), layout, epoch: Date.now() };
}

/** A store over `seg` whose clock runs `ms` ahead. */
const at = (seg: Segment, ms: number, slot = -1): ShmStore => new ShmStore({ ...seg, epoch: seg.epoch - ms }, slot);

describe('ShmStore targets', () => {
  test('begin/end/active, per-worker columns and reclaimWorker', () => {
    const seg = segment();
    const w0 = new ShmStore(seg, 0);
    const w1 = new ShmStore(seg, 1);
    const sup = new ShmStore(seg, -1);
    for (let i = 0; i < 3; i++) w0.begin(1);
    for (let i = 0; i < 4; i++) w1.begin(1);
    w1.retryBegin(1);
    sup.begin(1); // the supervisor has no column: never reclaimed
    w0.end(1);
    assert.equal(w0.active(1), 7);
    assert.equal(sup.active(0), 0);
    assert.equal(sup.target(1).requests, 8);
    w0.reclaimWorker(1); // worker 1 died with 4 in flight and 1 retrying
    assert.equal(sup.active(1), 3);
    assert.equal(sup.retrying(1), 0);
    w0.reclaimWorker(1);
    assert.equal(sup.active(1), 3, 'reclaiming twice takes nothing more');
    w0.end(1);
    w0.end(1);
    sup.end(1);
    assert.equal(sup.active(1), 0);
    sup.end(1);
    assert.equal(sup.active(1), 0, 'never reported below zero');
    assert.throws(() => new ShmStore(seg, 4), RangeError);
  });

  test('peak EWMA: a slower sample takes over, a faster one decays in with time', () => {
    const seg = segment();
    const s = at(seg, 0);
    s.recordLatency(0, 1000);
    assert.equal(s.ewmaUs(0), 1000);
    s.recordLatency(0, 5000);
    assert.equal(s.ewmaUs(0), 5000);
    at(seg, 10_000).recordLatency(0, 1000); // one time constant later: weight e^-1
    const v = s.ewmaUs(0);
    assert.ok(v > 2400 && v < 2500, `decayed to ${v}`);
  });

  test('peak EWMA decays when read: a slow target with no traffic looks cheaper with time', () => {
    const seg = segment();
    at(seg, 0).recordLatency(0, 5_000_000); // one 5 s answer
    assert.equal(at(seg, 0).ewmaUs(0), 5_000_000);
    const later = at(seg, 20_000).ewmaUs(0); // two time constants later: e^-2
    assert.ok(later > 600_000 && later < 750_000, `decayed to ${later}`);
    // The clock is the real one offset by 20 s: a millisecond may tick between the two reads (1 ms of decay is 0.01%).
    const shown = at(seg, 20_000).target(0).ewmaUs;
    assert.ok(Math.abs(shown - later) <= later * 0.001, `the admin read-out shows the same (${shown} vs ${later})`);
  });

  test('passive ejection: growing, capped times, and back in rotation when over', () => {
    const seg = segment();
    const p: EjectPolicy = { consecutiveFailures: 3, baseEjectionMs: 10_000, maxEjectionMs: 30_000 };
    const eject = (start: number): void => {
      const s = at(seg, start);
      const fail = (): boolean => s.recordOutcome(2, false, p);
      assert.equal(s.recordOutcome(2, true, p), false);
      assert.deepEqual([fail(), fail()], [false, false]);
      assert.equal(s.recordOutcome(2, true, p), false, 'a success resets the run');
      assert.deepEqual([fail(), fail(), fail()], [false, false, true]);
      assert.equal(s.usable(2), false);
      assert.deepEqual([fail(), fail(), fail()], [false, false, false], 'already ejected: no new ejection');
    };
    // Ejections last 10 s, then 20 s, then 40 s capped to 30 s.
    let start = 0;
    for (const ms of [10_000, 20_000, 30_000]) {
      eject(start);
      assert.ok(at(seg, start).target(2).ejectedForMs > ms - 1000);
      assert.equal(at(seg, start + ms - 500).usable(2), false, `still ejected before ${ms} ms`);
      assert.equal(at(seg, start + ms + 500).usable(2), true, `back after ${ms} ms`);
      assert.equal(at(seg, start + ms + 500).flags(2) & F_EJECTED, 0, 'usable() cleared the flag');
      start += ms + 1000;
    }
    assert.equal(at(seg, start).target(2).ejections, 3);
    assert.equal(at(seg, start).counters().ejections, 3);
    assert.equal(at(seg, 0).recordOutcome(3, false, null), false, 'no policy, no ejection');
  });

  test('healthy for a full max ejection time: the next ejection is back to the base time', () => {
    const seg = segment();
    const p: EjectPolicy = { consecutiveFailures: 1, baseEjectionMs: 10_000, maxEjectionMs: 30_000 };
    at(seg, 0).recordOutcome(0, false, p); // ends at 10 s
    assert.equal(at(seg, 11_000).usable(0), true);
    at(seg, 11_000).recordOutcome(0, false, p); // second: 20 s, ends at 31 s
    assert.equal(at(seg, 11_000).target(0).ejections, 2);
    at(seg, 40_000).recordOutcome(0, true, p); // 9 s after: not yet
    assert.equal(at(seg, 40_000).target(0).ejections, 2);
    assert.equal(at(seg, 62_000).usable(0), true);
    at(seg, 62_000).recordOutcome(0, true, p); // 31 s after the end: forgiven
    assert.equal(at(seg, 62_000).target(0).ejections, 0);
    at(seg, 63_000).recordOutcome(0, false, p);
    const left = at(seg, 63_000).target(0).ejectedForMs;
    assert.ok(left > 9_000 && left <= 10_000, `base time again, ${left} ms`);
  });

  test('ejection expires in real time too', async () => {
    const s = new ShmStore(segment(), 0);
    s.recordOutcome(0, false, { consecutiveFailures: 1, baseEjectionMs: 30, maxEjectionMs: 30 });
    assert.equal(s.usable(0), false);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(s.usable(0), true);
  });

  test('an ejection still ends after now() wraps (32-bit ms, 24.8 days)', () => {
    const seg = segment();
    const wrap = 2 ** 31 - 2_000; // 2 s before now() turns negative
    at(seg, wrap).recordOutcome(0, false, { consecutiveFailures: 1, baseEjectionMs: 5_000, maxEjectionMs: 5_000 });
    assert.ok(at(seg, wrap + 4_000).now() < 0, 'now() has wrapped');
    assert.equal(at(seg, wrap + 4_000).usable(0), false);
    assert.equal(at(seg, wrap + 6_000).usable(0), true);
  });

  test('health-check and admin flags hold regardless of time', () => {
    const seg = segment();
    const s = at(seg, 0);
    s.setFlag(1, F_CHECK_DOWN, true);
    s.setFlag(1, F_ADMIN_DOWN, true);
    assert.equal(at(seg, 1e9).usable(1), false);
    s.setFlag(1, F_CHECK_DOWN, false);
    assert.equal(s.usable(1), false);
    s.setFlag(1, F_ADMIN_DOWN, false);
    assert.equal(s.usable(1), true);
  });
});

describe('ShmStore breaker', () => {
  const base: BreakerPolicy = { failureRatio: 0.5, consecutiveFailures: 0, windowMs: 10_000, minRequests: 10, openMs: 5_000, halfOpenRequests: 2 };
  const record = (s: ShmStore, p: BreakerPolicy, outcomes: string): void => {
    for (const c of outcomes) s.breakerRecord(0, p, c === 'o', false);
  };

  test('closed -> open on the failure ratio (with minRequests), admit says ms left', () => {
    const seg = segment();
    const s = at(seg, 0);
    s.resetUpstream(0);
    record(s, base, 'xxxxxxxxx'); // 9 failures, under minRequests
    assert.equal(s.breaker(0).state, 'closed');
    assert.equal(s.breakerAdmit(0, base), ADMIT);
    record(s, base, 'o'); // 9/10 >= 0.5
    assert.equal(s.breaker(0).state, 'closed', 'a success never opens it');
    record(s, base, 'x');
    assert.equal(s.breaker(0).state, 'open');
    assert.equal(s.breaker(0).opens, 1);
    assert.equal(s.counters().circuitOpened, 1);
    const left = s.breakerAdmit(0, base);
    assert.ok(left > 4_900 && left <= 5_000, `rejected for ${left} ms`);
    const later = at(seg, 2_000).breakerAdmit(0, base);
    assert.ok(later > 2_900 && later <= 3_000, `rejected for ${later} ms`);
    record(s, base, 'xxxx'); // late answers from before it opened change nothing
    assert.equal(s.breaker(0).opens, 1);
  });

  test('the ratio counts one window at a time', () => {
    const seg = segment();
    at(seg, 0).resetUpstream(0);
    record(at(seg, 0), base, 'oooooxxxx'); // 4/9
    record(at(seg, 10_500), base, 'x'); // a new window: 1/1 but under minRequests
    assert.equal(at(seg, 10_500).breaker(0).state, 'closed');
    assert.equal(at(seg, 10_500).breaker(0).windowRequests, 1);
  });

  test('closed -> open on consecutive failures; a success resets the run', () => {
    const seg = segment();
    const p = { ...base, failureRatio: 0, consecutiveFailures: 3 };
    const s = at(seg, 0);
    record(s, p, 'xxoxx');
    assert.equal(s.breaker(0).state, 'closed');
    record(s, p, 'x');
    assert.equal(s.breaker(0).state, 'open');
  });

  test('open -> half-open after openMs: N trials, then closed after N successes', () => {
    const seg = segment();
    const p = { ...base, failureRatio: 0, consecutiveFailures: 1 };
    record(at(seg, 0), p, 'x');
    const s = at(seg, 5_100);
    assert.equal(s.breakerAdmit(0, p), ADMIT_TRIAL);
    assert.equal(s.breaker(0).state, 'half-open');
    assert.equal(s.breakerAdmit(0, p), ADMIT_TRIAL);
    assert.ok(s.breakerAdmit(0, p) > 0, 'only halfOpenRequests trials at once');
    s.breakerRecord(0, p, true, true);
    assert.equal(s.breaker(0).state, 'half-open');
    s.breakerRecord(0, p, true, true);
    assert.equal(s.breaker(0).state, 'closed');
    assert.equal(s.breakerAdmit(0, p), ADMIT);
    assert.equal(s.breaker(0).consecutiveFailures, 0);
  });

  test('half-open -> open again on a failed trial, for another openMs', () => {
    const seg = segment();
    const p = { ...base, failureRatio: 0, consecutiveFailures: 1 };
    record(at(seg, 0), p, 'x');
    const s = at(seg, 5_100);
    assert.equal(s.breakerAdmit(0, p), ADMIT_TRIAL);
    s.breakerRecord(0, p, false, true);
    assert.equal(s.breaker(0).state, 'open');
    assert.equal(s.breaker(0).opens, 2);
    const left = s.breakerAdmit(0, p);
    assert.ok(left > 4_900 && left <= 5_000, `rejected for ${left} ms`);
    assert.equal(at(seg, 10_200).breakerAdmit(0, p), ADMIT_TRIAL);
  });

  test('a trial given back frees its slot, however many were refused meanwhile', () => {
    const seg = segment();
    const p = { ...base, failureRatio: 0, consecutiveFailures: 1 }; // halfOpenRequests 2
    record(at(seg, 0), p, 'x');
    const s = at(seg, 5_100);
    assert.equal(s.breakerAdmit(0, p), ADMIT_TRIAL);
    assert.equal(s.breakerAdmit(0, p), ADMIT_TRIAL);
    for (let i = 0; i < 10; i++) assert.ok(s.breakerAdmit(0, p) > 0);
    s.breakerRelease(0);
    assert.equal(s.breakerAdmit(0, p), ADMIT_TRIAL, 'the slot given back is a real one');
    assert.ok(s.breakerAdmit(0, p) > 0);
  });

  test('trials lost with a dead worker do not keep it half-open for ever', () => {
    const seg = segment();
    const p = { ...base, failureRatio: 0, consecutiveFailures: 1, halfOpenRequests: 1 };
    record(at(seg, 0), p, 'x');
    assert.equal(at(seg, 5_100).breakerAdmit(0, p), ADMIT_TRIAL); // never answered
    assert.ok(at(seg, 6_000).breakerAdmit(0, p) > 0);
    assert.equal(at(seg, 5_100 + 2 * p.openMs + 1_100).breakerAdmit(0, p), ADMIT_TRIAL);
  });
});

describe('ShmStore gateway-wide', () => {
  test('round-robin cursor and counters', () => {
    const s = new ShmStore(segment(), 0);
    assert.deepEqual([s.nextCursor(1), s.nextCursor(1), s.nextCursor(0)], [0, 1, 0]);
    s.count('requests');
    s.count('requests', 4);
    s.count('noTarget');
    const c = s.counters();
    assert.equal(c.requests, 5);
    assert.equal(c.noTarget, 1);
    assert.equal(c.retries, 0);
  });
});
