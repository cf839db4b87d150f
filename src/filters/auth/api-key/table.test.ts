import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthFailure } from '../authenticator.js';
import { hashKey, newKey, readSecret } from './keys.js';
import { KeyTable } from './table.js';

const T = 1_700_000_000_000;
const secret = readSecret({ hashSecretEnv: 'S' }, { S: 's'.repeat(40) });
if (typeof secret === 'string') throw new Error(secret);

function table(): { t: KeyTable; keys: Record<string, string> } {
  const t = new KeyTable(secret as Exclude<typeof secret, string>);
  const keys: Record<string, string> = {};
  const wk = (id: string, consumer: string, expiresAt: number | null) => {
    const k = newKey('wk_live_');
    keys[id] = k.key;
    return { id, consumer, hash: hashKey(t.secret, k.key), expiresAt };
  };
  t.receive({
    t: 'all',
    consumers: [{ name: 'alice', roles: ['admin'], scopes: ['read', 'write'] }, { name: 'bob', roles: [], scopes: [] }],
    keys: [wk('a1', 'alice', null), wk('a2', 'alice', T + 1000), wk('b1', 'bob', null)],
  });
  return { t, keys };
}

const failure = (v: unknown): string => (v instanceof AuthFailure ? `${v.kind}: ${v.description}` : 'identity');

test('a known key is its consumer, with roles and scopes; anything else is invalid', () => {
  const { t, keys } = table();
  assert.deepEqual(t.check(keys.a1!, T), { method: 'api-key', consumer: 'alice', claims: {}, scopes: ['read', 'write'], roles: ['admin'] });
  assert.equal(t.check(keys.a1!, T), t.check(keys.a1!, T), 'one identity object per consumer: nothing made per request');
  assert.equal(failure(t.check(`${keys.a1!}x`, T)), 'invalid: unknown or revoked API key');
  assert.equal(failure(t.check('', T)), 'invalid: unknown or revoked API key');
  assert.equal(failure(t.check('x'.repeat(10_000), T)), 'invalid: unknown or revoked API key');
});

test('expiry: valid before expiresAt, refused from it on', () => {
  const { t, keys } = table();
  assert.equal(failure(t.check(keys.a2!, T + 999)), 'identity');
  assert.equal(failure(t.check(keys.a2!, T + 1000)), 'invalid: the API key has expired');
});

test('changes: a revoked key, a deleted consumer (with its keys), a key rotated into a grace period', () => {
  const { t, keys } = table();
  t.receive({ t: 'del', keys: ['a1'] });
  assert.equal(failure(t.check(keys.a1!, T)), 'invalid: unknown or revoked API key');
  t.receive({ t: 'put', keys: [{ id: 'b1', consumer: 'bob', hash: hashKey(t.secret, keys.b1!), expiresAt: T + 50 }] });
  assert.equal(failure(t.check(keys.b1!, T + 49)), 'identity', 'old key in its grace period');
  assert.equal(failure(t.check(keys.b1!, T + 50)), 'invalid: the API key has expired');
  t.receive({ t: 'del', consumers: ['alice'] });
  assert.equal(failure(t.check(keys.a2!, T)), 'invalid: unknown or revoked API key');
  assert.equal(t.size, 1);
});

test('before the first table the method cannot decide (503), not 401', () => {
  const t = new KeyTable(secret as Exclude<typeof secret, string>);
  assert.equal(failure(t.check('wk_live_x', T)), 'unavailable: the API-key table is not loaded yet');
});

test('use is reported once per key per period, with its latest time', () => {
  const { t, keys } = table();
  t.check(keys.a1!, T);
  t.check(keys.a1!, T + 5);
  t.check(keys.b1!, T + 7);
  t.check('nope', T + 8);
  assert.deepEqual(t.takeUsed(), ['a1', T + 5, 'b1', T + 7]);
  assert.deepEqual(t.takeUsed(), []);
});
