import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SuccessCache } from './success-cache.js';

test('success cache: bounded in entries, the oldest goes first', () => {
  const c = new SuccessCache(60_000, 3, () => 0);
  const k = (i: number) => c.keyOf('realm', `u${i}`, 'pw');
  for (let i = 0; i < 5; i++) c.add(k(i), 'h');
  assert.equal(c.size, 3);
  assert.equal(c.has(k(0), 'h'), false);
  assert.equal(c.has(k(1), 'h'), false);
  assert.equal(c.has(k(4), 'h'), true);
  // Re-adding refreshes an entry's place: 2 survives the next insert, 3 does not.
  c.add(k(2), 'h');
  c.add(k(5), 'h');
  assert.equal(c.has(k(2), 'h'), true);
  assert.equal(c.has(k(3), 'h'), false);
  assert.equal(c.size, 3);
});

test('success cache: entries expire after the ttl', () => {
  let now = 1000;
  const c = new SuccessCache(60_000, 10, () => now);
  const key = c.keyOf('r', 'u', 'pw');
  c.add(key, 'h');
  now += 59_999;
  assert.equal(c.has(key, 'h'), true);
  now += 1;
  assert.equal(c.has(key, 'h'), false);
  assert.equal(c.size, 0, 'an expired entry is dropped when met');
});

test('success cache: an entry holds only for the hash it was checked against', () => {
  const c = new SuccessCache(60_000, 10, () => 0);
  const key = c.keyOf('r', 'u', 'pw');
  c.add(key, 'old-hash');
  assert.equal(c.has(key, 'new-hash'), false);
  assert.equal(c.has(key, 'old-hash'), false, 'and the stale entry is gone');
});

test('success cache: keys are keyed hashes, distinct per field split and per process key', () => {
  const c = new SuccessCache(60_000, 10);
  const key = c.keyOf('r', 'user', 'secret-password');
  assert.ok(!key.includes('secret') && !key.includes('user'));
  assert.equal(key, c.keyOf('r', 'user', 'secret-password'));
  assert.notEqual(c.keyOf('r', 'ab', 'c'), c.keyOf('r', 'a', 'bc'));
  assert.notEqual(c.keyOf('r1', 'u', 'p'), c.keyOf('r', '1u', 'p'));
  assert.notEqual(key, new SuccessCache(60_000, 10).keyOf('r', 'user', 'secret-password'), 'another cache, another key');
});

test('success cache: zero entries or zero ttl stores nothing; clear() empties', () => {
  const none = new SuccessCache(60_000, 0, () => 0);
  none.add(none.keyOf('r', 'u', 'p'), 'h');
  assert.equal(none.size, 0);
  const noTtl = new SuccessCache(0, 10, () => 0);
  noTtl.add(noTtl.keyOf('r', 'u', 'p'), 'h');
  assert.equal(noTtl.size, 0);
  const c = new SuccessCache(60_000, 10, () => 0);
  c.add(c.keyOf('r', 'u', 'p'), 'h');
  c.clear();
  assert.equal(c.size, 0);
});
