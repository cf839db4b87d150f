// KeyedTable over a plain SharedArrayBuffer (no addon) on a fake clock, so
// staleness is driven by the test and not by waiting.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyedTable, MAX_PROBE, hashKey } from './keyed-table.js';
import { C_TAG, C_WORDS, COUNTERS, Counter, TAG_BUSY, offsets } from './layout.js';

const CELLS = 1024;

function table(nowSec: () => number) {
  const layout = offsets({ targets: 1, upstreams: 1, workerSlots: 1, tableCells: CELLS });
  const sab = new SharedArrayBuffer(layout.bytes);
  const counters = new Int32Array(sab, layout.counters, COUNTERS);
  const make = (clock: () => number): KeyedTable => new KeyedTable(sab, layout.tableOff, CELLS, counters, clock);
  const tags = new Int32Array(sab, layout.tableOff, CELLS * C_WORDS);
  return { t: make(nowSec), make, counters, tags };
}

/** `n` keys whose probe starts at the same cell (same first hash modulo CELLS). */
function colliding(n: number): string[] {
  const home = hashKey('c-0')[0] & (CELLS - 1);
  const out = ['c-0'];
  for (let i = 1; out.length < n; i++) if ((hashKey(`c-${i}`)[0] & (CELLS - 1)) === home) out.push(`c-${i}`);
  return out;
}

const inc = (v: bigint): bigint => v + 1n;

describe('KeyedTable', () => {
  test('update, get, reset, expiresIn', () => {
    const { t, counters } = table(() => 100);
    assert.equal(t.get('a'), undefined);
    assert.equal(t.update('a', 30, inc), 1n, 'a new key starts from 0n');
    assert.equal(t.update('a', 30, inc), 2n);
    assert.equal(t.update('b', 30, (v) => v + 10n), 10n);
    assert.equal(t.get('a'), 2n);
    assert.equal(t.expiresIn('a'), 30);
    assert.equal(t.update('a', 30, (v) => v), 2n, 'an unchanged value needs no CAS');
    assert.equal(t.reset('a'), true);
    assert.equal(t.get('a'), 0n, 'reset keeps the cell');
    assert.equal(t.reset('nope'), false);
    assert.equal(t.used(), 2);
    assert.equal(counters[Counter.tableCellsUsed], 2);
    assert.equal(t.copies('a'), 1);
    assert.throws(() => new KeyedTable(new SharedArrayBuffer(4096), 0, 100, counters, () => 0), RangeError);
  });


  test('a key given as prefix + suffix is the joined key (the admin API reads it joined)', () => {
    for (const [p, s] of [['l1\u001f', '10.0.0.1'], ['', 'x'], ['abc', ''], ['route/limit\u001f', '2001:db8::/56']] as const) {
      assert.deepEqual(hashKey(p, s), hashKey(p + s));
    }
    const { t } = table(() => 100);
    t.update('rl\u001f', 30, inc, '10.0.0.1');
    t.update('rl\u001f10.0.0', 30, inc, '.1');
    assert.equal(t.get('rl\u001f10.0.0.1'), 2n);
    assert.equal(t.copies('rl\u001f10.0.0.1'), 1);
  });
  test('a full probe window returns undefined and counts tableFull', () => {
    const { t, counters } = table(() => 0);
    const keys = colliding(MAX_PROBE + 1);
    for (const k of keys.slice(0, MAX_PROBE)) assert.equal(t.update(k, 60, inc), 1n, k);
    assert.equal(t.update(keys[MAX_PROBE]!, 60, inc), undefined);
    assert.equal(t.get(keys[MAX_PROBE]!), undefined);
    assert.equal(counters[Counter.tableFull], 1);
    assert.equal(t.used(), MAX_PROBE);
    for (const k of keys.slice(0, MAX_PROBE)) assert.equal(t.copies(k), 1, k);
  });

  test('stale cells are reclaimed for new keys, live ones are not', () => {
    let now = 0;
    const { t, counters } = table(() => now);
    const keys = colliding(MAX_PROBE + 2);
    for (const k of keys.slice(0, MAX_PROBE)) t.update(k, 10, inc);
    now = 10; // expires = 0 + 10: still live in second 10
    assert.equal(t.update(keys[MAX_PROBE]!, 10, inc), undefined);
    now = 11; // every cell stale now; refresh two of them
    assert.equal(t.update(keys[1]!, 10, inc), 2n, 'a stale cell keeps its value until it is reclaimed');
    t.update(keys[2]!, 10, inc);
    assert.equal(t.update(keys[MAX_PROBE]!, 10, inc), 1n, 'reclaimed cell starts from 0n');
    assert.equal(counters[Counter.tableReclaimed], 1);
    assert.equal(t.get(keys[0]!), undefined, 'the first stale cell (key 0) went');
    assert.equal(t.get(keys[1]!), 2n);
    assert.equal(t.update(keys[MAX_PROBE + 1]!, 10, inc), 1n, 'the next stale one (key 3) is used');
    assert.equal(t.get(keys[3]!), undefined);
    assert.equal(t.used(), MAX_PROBE, 'reclaiming claims no new cells');
    for (const k of keys.slice(1)) assert.ok(t.copies(k) <= 1, k);
  });

  test('an update never lands in a cell reclaimed for another key under it', () => {
    // Two tables over one buffer stand for two processes. Key `a` is stale; its
    // updater is stopped right after it found its cell (its second clock read,
    // for the new expiry) while the other process reclaims that cell for `b`.
    let now = 0;
    const { t: other, make } = table(() => now);
    let reads = 0;
    let meanwhile: (() => void) | null = null;
    const t = make(() => {
      if (++reads === 2 && meanwhile) {
        meanwhile();
        meanwhile = null;
      }
      return now;
    });
    const [a, b] = colliding(2) as [string, string];
    t.update(a, 1, inc);
    now = 5;
    reads = 0;
    meanwhile = () => assert.equal(other.update(b, 1, (v) => v + 100n), 100n);
    assert.equal(t.update(a, 1, inc), 1n, 'a lost its stale cell and starts over');
    assert.equal(other.get(b), 100n, "b's cell holds only b's update");
    assert.equal(t.copies(a), 1);
    assert.equal(t.copies(b), 1);
  });

  test('a cell left busy by a dead claimer is taken over, never emptied', () => {
    // `z` sits at the home cell, `a` one further. If the home cell's claimer
    // dies (tag stuck busy), the cell must not turn empty: a probe for `a`
    // would stop there and claim a second cell for `a`.
    const { t, tags } = table(() => 0);
    const [z, a] = colliding(2) as [string, string];
    t.update(z, 60, inc);
    t.update(a, 60, inc);
    const home = hashKey(z)[0] & (CELLS - 1);
    Atomics.store(tags, home * C_WORDS + C_TAG, TAG_BUSY);
    assert.equal(t.update(a, 60, inc), 2n, 'waits out the busy cell, then finds a further on');
    assert.equal(t.copies(a), 1);
    assert.equal(t.update(z, 60, inc), 1n, 'z is gone with its cell: claims the dead one');
    assert.equal(t.used(), 2);
  });
});
