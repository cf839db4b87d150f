// The balancers over a real ShmStore: one plain SharedArrayBuffer laid out like
// the shared-memory segment, seen through two ShmStore instances (two
// "workers", worker slots 0 and 1). A balancer built on one store must see what
// the other store's worker did: the cursor it advanced, the requests it has in
// flight, the latencies it recorded.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestContext } from '../../pipeline/context.js';
import { offsets, F_ADMIN_DOWN, type Capacity } from '../../state/layout.js';
import type { Segment } from '../../state/segment.js';
import { ShmStore } from '../../state/shm-store.js';
import type { BalancerName } from '../../config/schema.js';
import type { Balancer, BalancedTarget, Eligible } from './balancer.js';
import { ConsistentHash, MAGLEV_SIZE, maglevTable } from './consistent-hash.js';
import { createBalancer } from './index.js';
import { LeastConnections } from './least-connections.js';
import { P2cEwma } from './p2c-ewma.js';
import { RoundRobin } from './round-robin.js';
import { WeightedRoundRobin, smoothSequence } from './weighted-round-robin.js';

const CAP: Capacity = { targets: 64, upstreams: 8, workerSlots: 4, tableCells: 64 };

function segment(cap: Capacity = CAP): Segment {
  const layout = offsets(cap);
  return { name: '/wicket-unit-test', sab: new SharedArrayBuffer(layout.bytes), layout, epoch: Date.now() };
}

/** Two workers' views of one segment. */
function twoWorkers(): [ShmStore, ShmStore] {
  const seg = segment();
  return [new ShmStore(seg, 0), new ShmStore(seg, 1)];
}

/** Targets on slots `base`, `base + 1`, ... (slots need not match indexes). */
function targets(weights: readonly number[], base = 10): BalancedTarget[] {
  return weights.map((weight, i) => ({ slot: base + i, weight, origin: `http://10.1.0.${i + 1}:8080` }));
}

const ctx = (headers: Record<string, string> = {}): RequestContext => {
  const c = new RequestContext(0);
  c.path = '/';
  c.remoteAddress = '127.0.0.1';
  for (const [k, v] of Object.entries(headers)) c.headers.push(k.toLowerCase(), v);
  return c;
};

const all: Eligible = () => true;

function counts(n: number, picks: number[]): number[] {
  const c = new Array<number>(n).fill(0);
  for (const p of picks) c[p]!++;
  return c;
}

// ---------------------------------------------------------------- smooth WRR

describe('smooth weighted round robin', () => {
  test("smoothSequence({5,1,1}) is nginx's a a b a c a a", () => {
    assert.deepEqual([...smoothSequence([5, 1, 1])], [0, 0, 1, 0, 2, 0, 0]);
  });

  test('smoothSequence gives every target exactly its share, reduced by the gcd', () => {
    assert.deepEqual([...smoothSequence([3, 1])], [0, 0, 1, 0]);
    assert.deepEqual([...smoothSequence([1, 1, 1])], [0, 1, 2]);
    // 2:4:6 is 1:2:3: one cycle of 6, not 12.
    const s = smoothSequence([2, 4, 6]);
    assert.equal(s.length, 6);
    assert.deepEqual(counts(3, [...s]), [1, 2, 3]);
    const big = smoothSequence([7, 3, 5, 1]);
    assert.deepEqual(counts(4, [...big]), [7, 3, 5, 1]);
    // Smooth: the heaviest target never gets more than ceil(w/others) in a row.
    let run = 0;
    let longest = 0;
    for (let k = 0; k < big.length * 2; k++) {
      run = big[k % big.length] === 0 ? run + 1 : 0;
      longest = Math.max(longest, run);
    }
    assert.ok(longest <= 2, `longest run of the heaviest target: ${longest}`);
  });

  test('weights 3:1 across two workers: exactly 3:1 over every 4 picks, global order', () => {
    const [s0, s1] = twoWorkers();
    const t = targets([3, 1]);
    const w = [new WeightedRoundRobin(t, s0, 2), new WeightedRoundRobin(t, s1, 2)];
    const picks: number[] = [];
    for (let k = 0; k < 400; k++) picks.push(w[k % 2 === 0 || k % 7 === 0 ? 0 : 1]!.pick(ctx(), all));
    for (let k = 0; k < picks.length; k += 4) assert.deepEqual(counts(2, picks.slice(k, k + 4)), [3, 1], `picks ${k}..${k + 3}`);
    assert.deepEqual(picks.slice(0, 8), [0, 0, 1, 0, 0, 0, 1, 0]);
  });
});

// ---------------------------------------------------------------- round robin

describe('round robin', () => {
  test('two workers on one shared cursor alternate globally', () => {
    const [s0, s1] = twoWorkers();
    const t = targets([1, 1, 1]);
    const a = new RoundRobin(t, s0, 3);
    const b = new RoundRobin(t, s1, 3);
    // Any interleaving of the two workers gives one global rotation.
    const order = [a, b, b, a, b, a, a, a, b, b, a, b];
    const picks = order.map((w) => w.pick(ctx(), all));
    assert.deepEqual(picks, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });

  test('another upstream has its own cursor', () => {
    const [s0, s1] = twoWorkers();
    const t = targets([1, 1]);
    const a = new RoundRobin(t, s0, 0);
    const other = new RoundRobin(t, s1, 1);
    assert.deepEqual([a.pick(ctx(), all), other.pick(ctx(), all), a.pick(ctx(), all), other.pick(ctx(), all)], [0, 0, 1, 1]);
  });
});

// ---------------------------------------------------------------- least connections

describe('least connections', () => {
  test("picks the lowest active count over both workers' begin()s", () => {
    const [s0, s1] = twoWorkers();
    const t = targets([1, 1, 1]);
    const lc0 = new LeastConnections(t, s0);
    const lc1 = new LeastConnections(t, s1);
    // Worker 0 has 2 in flight on target 0, worker 1 has 1 on target 1.
    s0.begin(t[0]!.slot);
    s0.begin(t[0]!.slot);
    s1.begin(t[1]!.slot);
    for (let k = 0; k < 50; k++) {
      assert.equal(lc0.pick(ctx(), all), 2);
      assert.equal(lc1.pick(ctx(), all), 2);
    }
    // Worker 1 loads target 2 with 3: now target 1 (1 active) is the least loaded, for both.
    for (let k = 0; k < 3; k++) s1.begin(t[2]!.slot);
    for (let k = 0; k < 50; k++) {
      assert.equal(lc0.pick(ctx(), all), 1);
      assert.equal(lc1.pick(ctx(), all), 1);
    }
    // Worker 0's two requests end: target 0 is idle again.
    s0.end(t[0]!.slot);
    s0.end(t[0]!.slot);
    for (let k = 0; k < 50; k++) assert.equal(lc1.pick(ctx(), all), 0);
  });

  test('equal loads share: ties go to every target, not always the first', () => {
    const [s0] = twoWorkers();
    const t = targets([1, 1, 1]);
    const lc = new LeastConnections(t, s0);
    const c = counts(3, Array.from({ length: 600 }, () => lc.pick(ctx(), all)));
    for (const x of c) assert.ok(x > 100, `tie shares ${c}`);
  });

  test('weighted: active / weight', () => {
    const [s0, s1] = twoWorkers();
    const t = targets([1, 4]);
    const lc = new LeastConnections(t, s0);
    s1.begin(t[0]!.slot); // 1 / 1
    for (let k = 0; k < 3; k++) s1.begin(t[1]!.slot); // 3 / 4
    assert.equal(lc.pick(ctx(), all), 1);
    s1.begin(t[1]!.slot); // 4 / 4: tie, either
    s1.begin(t[1]!.slot); // 5 / 4
    assert.equal(lc.pick(ctx(), all), 0);
  });
});

// ---------------------------------------------------------------- p2c + peak EWMA

describe('p2c-ewma', () => {
  test('prefers the lower ewma x (active + 1), with counts from the other worker', () => {
    const [s0, s1] = twoWorkers();
    const t = targets([1, 1]);
    const p = new P2cEwma(t, s0);
    s1.recordLatency(t[0]!.slot, 1_000);
    s1.recordLatency(t[1]!.slot, 5_000);
    // 1000 x 1 < 5000 x 1
    for (let k = 0; k < 50; k++) assert.equal(p.pick(ctx(), all), 0);
    // Worker 1 puts 5 in flight on target 0: 1000 x 6 > 5000 x 1.
    for (let k = 0; k < 5; k++) s1.begin(t[0]!.slot);
    for (let k = 0; k < 50; k++) assert.equal(p.pick(ctx(), all), 1);
    // Target 1 gets 1 in flight too: 1000 x 6 < 5000 x 2.
    s1.begin(t[1]!.slot);
    for (let k = 0; k < 50; k++) assert.equal(p.pick(ctx(), all), 0);
  });

  test('of three, the costliest is never picked and the cheapest wins every pair it is in', () => {
    const [s0, s1] = twoWorkers();
    const t = targets([1, 1, 1]);
    const p = new P2cEwma(t, s0);
    s1.recordLatency(t[0]!.slot, 2_000);
    s1.recordLatency(t[1]!.slot, 1_000);
    s1.recordLatency(t[2]!.slot, 50_000);
    const c = counts(3, Array.from({ length: 3000 }, () => p.pick(ctx(), all)));
    assert.equal(c[2], 0, `picks ${c}`);
    // Target 1 is in 2 of the 3 possible pairs and wins both.
    assert.ok(c[1]! > 1700 && c[1]! < 2300, `picks ${c}`);
  });

  test('a target without a latency sample gets one probe at a time, not every request', () => {
    const [s0, s1] = twoWorkers();
    const t = targets([1, 1]);
    const p = new P2cEwma(t, s0);
    s1.recordLatency(t[0]!.slot, 3_000);
    // Target 1 is new (no sample): idle, it is tried.
    assert.equal(p.pick(ctx(), all), 1);
    s1.begin(t[1]!.slot);
    // Its probe is in flight (in the other worker): the known target takes the rest.
    for (let k = 0; k < 50; k++) assert.equal(p.pick(ctx(), all), 0);
    // The probe answers slowly: from now on it is judged by its latency.
    s1.recordLatency(t[1]!.slot, 30_000);
    s1.end(t[1]!.slot);
    for (let k = 0; k < 50; k++) assert.equal(p.pick(ctx(), all), 0);
    for (let k = 0; k < 10; k++) s1.begin(t[0]!.slot); // 3000 x 11 > 30000 x 1
    assert.equal(p.pick(ctx(), all), 1);
  });
});

// ---------------------------------------------------------------- consistent hash (Maglev)

describe('consistent hash (Maglev)', () => {
  const origins = (n: number, host = '10.2.0'): string[] => Array.from({ length: n }, (_, i) => `http://${host}.${i + 1}:8080`);
  const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

  /** Which origin each key lands on, with `hashOn: header:x-user`. */
  function placement(os: readonly string[]): string[] {
    const ch = new ConsistentHash(
      os.map((origin, i) => ({ slot: i, weight: 1, origin })),
      'header:x-user',
    );
    return keys.map((k) => os[ch.pick(ctx({ 'x-user': k }), all)]!);
  }

  test('the table has every target about equally often, and two builds are identical', () => {
    const os = origins(10);
    const a = maglevTable(os);
    const b = maglevTable([...os]);
    assert.equal(a.length, MAGLEV_SIZE);
    assert.deepEqual(a, b);
    const c = counts(10, [...a]);
    for (const x of c) assert.ok(Math.abs(x - MAGLEV_SIZE / 10) <= 1, `entries per target ${c}`);
  });

  test('same key -> same target in two independently built balancers (two workers)', () => {
    const os = origins(10);
    const t = os.map((origin, i) => ({ slot: i, weight: 1, origin }));
    const w0 = new ConsistentHash(t, 'header:x-user');
    const w1 = new ConsistentHash(t.map((x) => ({ ...x })), 'header:x-user');
    for (const k of keys.slice(0, 2000)) {
      const i = w0.pick(ctx({ 'x-user': k }), all);
      assert.equal(w1.pick(ctx({ 'x-user': k }), all), i, k);
      assert.equal(w0.pick(ctx({ 'x-user': k }), all), i, k);
    }
    // Keys spread over all targets.
    const c = counts(10, keys.map((k) => w0.pick(ctx({ 'x-user': k }), all)));
    for (const x of c) assert.ok(x > 800 && x < 1200, `keys per target ${c}`);
  });

  test('the other key sources: path, cookie, ip', () => {
    const os = origins(5);
    const t = os.map((origin, i) => ({ slot: i, weight: 1, origin }));
    const byPath = new ConsistentHash(t, 'path');
    const byCookie = new ConsistentHash(t, 'cookie:sid');
    const byIp = new ConsistentHash(t, 'ip');
    const seen = new Set<number>();
    for (let k = 0; k < 200; k++) {
      const c = ctx({ cookie: `a=1; sid=s${k}; b=2` });
      c.path = `/p/${k}`;
      c.remoteAddress = `10.9.${k >> 8}.${k & 255}`;
      for (const b of [byPath, byCookie, byIp]) {
        const i = b.pick(c, all);
        seen.add(i);
        assert.equal(b.pick(c, all), i);
      }
      // Only the value of the named cookie counts.
      const same = ctx({ cookie: `sid=s${k}` });
      assert.equal(byCookie.pick(same, all), byCookie.pick(c, all));
    }
    assert.equal(seen.size, 5);
  });

  // Origin sets picked once; the property is checked on each.
  const sets: [string, number][] = [
    ['10.2.0', 10],
    ['192.168.7', 10],
    ['172.16.40', 10],
  ];

  test('adding one target to N=10 moves about 1/(N+1) of the keys, (almost) all to the new one', () => {
    let movedAll = 0;
    let toNewAll = 0;
    for (const [host, n] of sets) {
      const before = origins(n, host);
      const after = origins(n + 1, host);
      const a = placement(before);
      const b = placement(after);
      let moved = 0;
      let toNew = 0;
      for (let k = 0; k < keys.length; k++) {
        if (a[k] === b[k]) continue;
        moved++;
        if (b[k] === after[n]) toNew++;
      }
      const share = moved / keys.length;
      const ideal = 1 / (n + 1);
      assert.ok(share > 0.5 * ideal && share < 1.6 * ideal, `${host}: moved ${share}, ideal ${ideal}`);
      assert.ok(toNew / moved >= 0.9, `${host}: ${toNew} of ${moved} moved keys went to the new target`);
      movedAll += moved;
      toNewAll += toNew;
    }
    assert.ok(toNewAll / movedAll >= 0.95, `${toNewAll} of ${movedAll} moved keys went to the new target`);
  });

  test('removing a target moves (almost) only that target\'s keys', () => {
    let movedAll = 0;
    let ownAll = 0;
    for (const [host, n] of sets) {
      const before = origins(n, host);
      const gone = before[3]!;
      const after = before.filter((o) => o !== gone);
      const a = placement(before);
      const b = placement(after);
      let moved = 0;
      let own = 0;
      for (let k = 0; k < keys.length; k++) {
        if (a[k] === gone) assert.notEqual(b[k], gone);
        if (a[k] === b[k]) continue;
        moved++;
        if (a[k] === gone) own++;
      }
      // Every key of the removed target moved, and few others did.
      assert.equal(own, a.filter((o) => o === gone).length);
      assert.ok(own / moved >= 0.9, `${host}: ${own} of ${moved} moved keys were on the removed target`);
      movedAll += moved;
      ownAll += own;
    }
    assert.ok(ownAll / movedAll >= 0.95, `${ownAll} of ${movedAll} moved keys were on the removed target`);
  });

  test('a key whose target is out of rotation goes to the same next target in every worker, and comes back', () => {
    const os = origins(6);
    const t = os.map((origin, i) => ({ slot: i, weight: 1, origin }));
    const w0 = new ConsistentHash(t, 'header:x-user');
    const w1 = new ConsistentHash(t, 'header:x-user');
    const home = keys.slice(0, 500).map((k) => w0.pick(ctx({ 'x-user': k }), all));
    const down: Eligible = (i) => i !== 2;
    const spill = new Set<number>();
    keys.slice(0, 500).forEach((k, j) => {
      const i = w0.pick(ctx({ 'x-user': k }), down);
      assert.notEqual(i, 2);
      assert.equal(w1.pick(ctx({ 'x-user': k }), down), i);
      // Keys of healthy targets stay where they were.
      if (home[j] !== 2) assert.equal(i, home[j]);
      else spill.add(i);
      assert.equal(w0.pick(ctx({ 'x-user': k }), all), home[j]);
    });
    // The down target's keys spread over the others rather than piling on one.
    assert.ok(spill.size >= 3, `spilled to ${[...spill]}`);
  });
});

// ---------------------------------------------------------------- every balancer

const NAMES: BalancerName[] = ['round-robin', 'weighted-round-robin', 'least-connections', 'p2c-ewma', 'consistent-hash', 'random'];

describe('every balancer', () => {
  for (const name of NAMES) {
    test(`${name}: skips targets that are not eligible; none eligible -> -1`, () => {
      const [s0, s1] = twoWorkers();
      const t = targets([1, 2, 1, 3]);
      const b: Balancer = createBalancer(name, t, s0, 4, 'header:x-user');
      // Unhealthy in shared memory (the cluster's filter), plus one excluded by the caller.
      s1.setFlag(t[1]!.slot, F_ADMIN_DOWN, true);
      const healthy: Eligible = (i) => s0.usable(t[i]!.slot);
      const tried: Eligible = (i) => i !== 3 && healthy(i);
      const seen = new Set<number>();
      for (let k = 0; k < 400; k++) {
        const c = ctx(k % 5 === 0 ? {} : { 'x-user': `u${k}` });
        const i = b.pick(c, healthy);
        assert.ok(i === 0 || i === 2 || i === 3, `${name} picked ${i}`);
        seen.add(i);
        // Some load so the counting balancers move around.
        if (k % 3 === 0) s1.begin(t[i]!.slot);
      }
      for (let k = 0; k < 400; k++) {
        const j = b.pick(ctx(k % 5 === 0 ? {} : { 'x-user': `u${k}` }), tried);
        assert.ok(j === 0 || j === 2, `${name} picked ${j} with target 3 excluded`);
      }
      assert.deepEqual([...seen].sort(), [0, 2, 3], `${name} used every eligible target`);
      assert.equal(b.pick(ctx({ 'x-user': 'u1' }), () => false), -1);
      assert.equal(b.pick(ctx(), () => false), -1);
      // Only one left: that one, every time.
      for (let k = 0; k < 50; k++) assert.equal(b.pick(ctx({ 'x-user': `u${k}` }), (i) => i === 2), 2);
      // Back in rotation.
      s1.setFlag(t[1]!.slot, F_ADMIN_DOWN, false);
      for (let k = 0; k < 400 && !seen.has(1); k++) {
        const i = b.pick(ctx({ 'x-user': `v${k}` }), healthy);
        seen.add(i);
      }
      // least-connections and p2c now see target 1 as the idle one.
      assert.ok(seen.has(1), `${name} uses target 1 again`);
    });

    test(`${name}: a single target, and an empty list`, () => {
      const [s0] = twoWorkers();
      const one = createBalancer(name, targets([1]), s0, 5, 'ip');
      assert.equal(one.pick(ctx(), all), 0);
      assert.equal(one.pick(ctx(), () => false), -1);
      const none = createBalancer(name, [], s0, 6, 'ip');
      assert.equal(none.pick(ctx(), all), -1);
    });
  }
});
