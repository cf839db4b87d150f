import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.js';

test('backoff doubles per crash in a row, is capped, and resets after a healthy run', () => {
  const b = new Backoff(100, 1000, 10_000);
  assert.deepEqual([b.next(5), b.next(5), b.next(5), b.next(5), b.next(5), b.next(5)], [100, 200, 400, 800, 1000, 1000]);
  assert.equal(b.next(20_000), 100);
  assert.equal(b.next(1), 200);
});
