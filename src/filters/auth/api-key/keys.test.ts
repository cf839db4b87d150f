import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashKey, newKey, readSecret, MIN_SECRET_BYTES } from './keys.js';

const SECRET = 'k'.repeat(MIN_SECRET_BYTES);

test('a new key: prefix, 12-hex-digit public id, 32 random bytes in base64url; every key different', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const k = newKey('wk_live_');
    assert.match(k.key, /^wk_live_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    assert.equal(k.shown, `wk_live_${k.id}`);
    assert.ok(k.key.startsWith(`${k.shown}_`));
    assert.equal(Buffer.from(k.key.slice(k.shown.length + 1), 'base64url').length, 32);
    assert.ok(!seen.has(k.key));
    seen.add(k.key);
  }
});

test('the stored form is HMAC-SHA256 under the secret: stable, 43 base64url chars, different under another secret', () => {
  const s1 = readSecret({ hashSecretEnv: 'S' }, { S: SECRET });
  const s2 = readSecret({ hashSecretEnv: 'S' }, { S: `${SECRET}x` });
  assert.ok(typeof s1 !== 'string' && typeof s2 !== 'string');
  const { key } = newKey('wk_live_');
  assert.equal(hashKey(s1, key), hashKey(s1, key));
  assert.match(hashKey(s1, key), /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(hashKey(s1, key), hashKey(s2, key));
  assert.ok(!hashKey(s1, key).includes(key.slice(-20)));
});

test('a missing or short secret is refused by name, never echoing the value', () => {
  const missing = readSecret({ hashSecretEnv: 'WICKET_API_KEY_SECRET' }, {});
  assert.equal(missing, 'the environment variable WICKET_API_KEY_SECRET is not set (the API-key hash secret)');
  const short = readSecret({ hashSecretEnv: 'S' }, { S: 'tooshort-secret-value' });
  assert.equal(typeof short, 'string');
  assert.ok(!(short as string).includes('tooshort-secret-value'));
  assert.match(short as string, /fewer than 32 bytes/);
});
