// The pool with its real task module (dist/workers/verify-password.js) on real threads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from '@node-rs/bcrypt';
import argon2 from '@node-rs/argon2';
import { VerifyPool } from './verify-pool.js';

test('verify pool: match and mismatch for bcrypt and argon2', async () => {
  const pool = new VerifyPool({ threads: 1, maxQueue: 4, niceIncrement: 0 });
  try {
    const b = bcrypt.hashSync('right', 4);
    const a = argon2.hashSync('right');
    assert.equal(await pool.verify(b, 'right'), 'match');
    assert.equal(await pool.verify(b, 'wrong'), 'mismatch');
    assert.equal(await pool.verify(a, 'right'), 'match');
    assert.equal(await pool.verify(a, 'wrong'), 'mismatch');
    assert.equal(await pool.verify('$argon2id$garbage', 'x'), 'failed', 'a task that throws is a failure, not a crash');
  } finally {
    await pool.close();
  }
});

test('verify pool: at most threads + maxQueue checks; one more is busy at once; room again after', async () => {
  const pool = new VerifyPool({ threads: 1, maxQueue: 2, niceIncrement: 0 });
  try {
    const h = bcrypt.hashSync('right', 8);
    const all = Array.from({ length: 6 }, (_, i) => pool.verify(h, `wrong-${i}`));
    assert.equal(pool.inPool, 3);
    const out = await Promise.all(all);
    assert.deepEqual(out, ['mismatch', 'mismatch', 'mismatch', 'busy', 'busy', 'busy']);
    assert.equal(pool.inPool, 0);
    assert.equal(await pool.verify(h, 'right'), 'match');
  } finally {
    await pool.close();
  }
});
