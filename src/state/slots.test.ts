import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotMap } from './slots.js';

test('a key keeps its slot; never-used slots go first, then the oldest freed', () => {
  const m = new SlotMap(5);
  const fresh: number[] = [];
  const a = new Map(m.assign(['a', 'b', 'c'], (s) => fresh.push(s)));
  assert.deepEqual([...a], [['a', 0], ['b', 1], ['c', 2]]);
  assert.deepEqual(fresh, [0, 1, 2]);
  fresh.length = 0;
  // b and c go, d and e come: they take the never-used 3 and 4 before any freed slot.
  const b = new Map(m.assign(['a', 'd', 'e'], (s) => fresh.push(s)));
  assert.equal(b.get('a'), 0);
  assert.deepEqual([b.get('d'), b.get('e')], [3, 4]);
  fresh.length = 0;
  const c = new Map(m.assign(['a', 'd', 'e', 'f'], (s) => fresh.push(s)));
  assert.equal(c.get('f'), 1, 'the slot freed longest ago');
  assert.deepEqual(fresh, [1]);
});

test('more keys than capacity throws', () => {
  const m = new SlotMap(2);
  assert.throws(() => m.assign(['a', 'b', 'c'], () => {}), /no shared-state slot left/);
});

test('unchanged keys call nothing', () => {
  const m = new SlotMap(8);
  m.assign(['a', 'b'], () => {});
  let calls = 0;
  m.assign(['b', 'a'], () => calls++);
  assert.equal(calls, 0);
});
