// Which keys load and which algorithms each may verify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { jwkKey, jwksKeys, localKey } from './keys.js';
import { maxAge, safeUrl } from './jwks-source.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const pem = (k: typeof rsa.publicKey): string => k.export({ type: 'spki', format: 'pem' }).toString();

test('a key verifies only the algorithms of its type, narrowed by its alg and the provider list', () => {
  assert.deepEqual([...localKey({ pem: pem(rsa.publicKey) }, '.', {}, undefined).algs], ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
  assert.deepEqual([...localKey({ pem: pem(ec.publicKey) }, '.', {}, undefined).algs], ['ES256']);
  assert.deepEqual([...localKey({ pem: pem(ed.publicKey) }, '.', {}, undefined).algs], ['EdDSA', 'Ed25519']);
  assert.deepEqual([...localKey({ pem: pem(rsa.publicKey), alg: 'PS256' }, '.', {}, undefined).algs], ['PS256']);
  assert.deepEqual([...localKey({ pem: pem(rsa.publicKey) }, '.', {}, ['RS256', 'HS256']).algs], ['RS256']);
  const secret = 'x'.repeat(48);
  assert.deepEqual([...localKey({ secretEnv: 'S' }, '.', { S: secret }, undefined).algs], ['HS256', 'HS384']);
  assert.throws(() => localKey({ pem: pem(rsa.publicKey), alg: 'HS256' }, '.', {}, undefined), /alg HS256 does not fit the key's type/);
  assert.throws(() => localKey({ secretEnv: 'S' }, '.', { S: secret }, ['RS256']), /fits none of the provider's algorithms/);
});

test('refused keys: private PEM or JWK, a symmetric JWK, a short or missing secret, small RSA, unknown files; messages carry no key material', () => {
  const priv = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cases: [() => unknown, RegExp][] = [
    [() => localKey({ pem: priv }, '.', {}, undefined), /a private key/],
    [() => localKey({ jwk: rsa.privateKey.export({ format: 'jwk' }) as Record<string, unknown> }, '.', {}, undefined), /private key material/],
    [() => localKey({ jwk: { kty: 'oct', k: 'c2VjcmV0' } }, '.', {}, undefined), /symmetric/],
    [() => localKey({ secretEnv: 'S' }, '.', { S: 'short' }, undefined), /shorter than 32 bytes/],
    [() => localKey({ secretEnv: 'S' }, '.', {}, undefined), /S is not set/],
    [() => localKey({ pem: pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey) }, '.', {}, undefined), /key type the method does not verify/],
    [() => localKey({ pemFile: 'no-such-file.pem' }, '/nonexistent', {}, undefined), /pemFile no-such-file.pem: ENOENT/],
    [() => localKey({ pem: 'garbage' }, '.', {}, undefined), /not a PEM public key/],
    [() => localKey({ pem: pem(rsa.publicKey), jwk: {} }, '.', {}, undefined), /exactly one of/],
    [() => jwkKey({ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }, undefined), /not a usable public JWK/],
  ];
  for (const [f, re] of cases) {
    assert.throws(f, (err: Error) => {
      assert.match(err.message, re);
      assert.ok(!/MII|BEGIN/.test(err.message), err.message);
      return true;
    });
  }
});

test('a JWKS document: usable keys kept, others skipped with a reason, private members never copied', () => {
  const pub = ec.publicKey.export({ format: 'jwk' });
  const privJwk = { ...(ec.privateKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'leaky' };
  const { keys, skipped } = jwksKeys({ keys: [{ ...pub, kid: 'a' }, { kty: 'oct', k: 'c2VjcmV0', kid: 'sym' }, { ...pub, kid: 'enc', use: 'enc' }, privJwk, 'x'] }, undefined);
  assert.deepEqual(keys.map((k) => k.kid), ['a', 'leaky']);
  assert.equal(keys[1]!.d, undefined, 'the private part is dropped');
  assert.equal(skipped.length, 3);
  assert.throws(() => jwksKeys({ nope: [] }, undefined), /not a JWKS document/);
});

test('Cache-Control max-age; URLs in logs lose credentials and query', () => {
  assert.equal(maxAge('public, max-age=600'), 600);
  assert.equal(maxAge('no-store'), 0);
  assert.equal(maxAge('private'), null);
  assert.equal(maxAge(null), null);
  assert.equal(safeUrl('https://u:p@idp.example/jwks?key=secret'), 'https://idp.example/jwks');
});
