// The worker side with real keys and real tokens (jose): which tokens pass,
// which are refused and why, the synchronous cached path, revocation, and
// a JWKS refetch for an unknown kid answered over the (here in-process) IPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthFailure, type AuthResult } from '../authenticator.js';
import type { AuthIo } from '../services.js';
import { JwtService } from './service.js';
import type { JwtSectionConfig } from './schema.js';
import type { ToSupervisor } from './messages.js';
import { hmacKey, hmacWith, nowS, sign, signingKey, unsecured, type SigningKey } from '../../../../test/helpers/jwt.js';

const SECRET = 'unit-hmac-secret-0123456789abcdef-xyz';
process.env.WICKET_TEST_JWT_UNIT_SECRET = SECRET;

function io(sent: ToSupervisor[] = []): AuthIo & { handler: ((d: unknown) => void) | null } {
  const o = {
    configDir: '/nonexistent',
    handler: null as ((d: unknown) => void) | null,
    send: (d: unknown) => void sent.push(d as ToSupervisor),
    onMessage: (h: (d: unknown) => void) => void (o.handler = h),
  };
  return o;
}

const keys: Record<string, SigningKey> = {};
const hs = hmacKey(SECRET, 'hs');

async function service(extra: Partial<JwtSectionConfig['providers'][string]> = {}, only?: string[]): Promise<JwtService> {
  for (const [alg, kid] of [['RS256', 'rs'], ['PS256', 'ps'], ['ES256', 'es'], ['EdDSA', 'ed']] as const) keys[kid] ??= await signingKey(alg, kid);
  return new JwtService(
    {
      providers: {
        p: {
          issuer: 'https://issuer.test',
          audiences: ['api'],
          keys: [
            { kid: 'rs', pem: keys.rs!.spki },
            { kid: 'ps', jwk: keys.ps!.jwk as Record<string, unknown> },
            { kid: 'es', pem: keys.es!.spki },
            { kid: 'ed', jwk: keys.ed!.jwk as Record<string, unknown> },
            { kid: 'hs', secretEnv: 'WICKET_TEST_JWT_UNIT_SECRET' },
          ].filter((k) => only === undefined || only.includes(k.kid)),
          ...extra,
        },
      },
    },
    undefined,
    io(),
  );
}

const base = () => ({ iss: 'https://issuer.test', aud: 'api', sub: 'alice' });

async function outcome(svc: JwtService, token: string): Promise<AuthResult> {
  return await svc.providers.get('p')!.check(token);
}

function refusedWith(r: AuthResult, description: string | RegExp): void {
  assert.ok(r instanceof AuthFailure, `expected a refusal, got ${JSON.stringify(r)}`);
  assert.equal(r.kind, 'invalid');
  if (typeof description === 'string') assert.equal(r.description, description);
  else assert.match(r.description, description);
}

test('RS256, PS256, ES256, EdDSA and HS256 tokens are accepted with their own keys', async () => {
  const svc = await service();
  for (const k of [keys.rs!, keys.ps!, keys.es!, keys.ed!, hs]) {
    const r = await outcome(svc, await sign(k, { ...base(), sub: `user-${k.kid}` }));
    assert.ok(!(r instanceof AuthFailure) && r !== null, `${k.alg}: ${JSON.stringify(r)}`);
    assert.equal(r.consumer, `user-${k.kid}`);
    assert.equal(r.method, 'jwt');
  }
  svc.close();
});

test('a verified token is answered synchronously from the cache the second time', async () => {
  const svc = await service();
  const t = await sign(keys.es!, base());
  const first = svc.providers.get('p')!.check(t);
  assert.ok(first instanceof Promise);
  const id = await first;
  const second = svc.providers.get('p')!.check(t);
  assert.ok(!(second instanceof Promise), 'the cached path is synchronous');
  assert.equal(second, id);
  svc.close();
});

test('attacks and bad tokens are refused with a reason', async () => {
  const svc = await service();
  const attacker = await signingKey('RS256', 'evil');
  const cases: [string, string, string | RegExp][] = [
    ['alg none', unsecured(base()), 'algorithm not allowed'],
    ['alg none with a known kid', unsecured(base(), { kid: 'rs' }), /algorithm not allowed|no key for this algorithm/],
    ['HS256 signed with the RSA public key (kid of the RSA key)', hmacWith(keys.rs!.spki, base(), { kid: 'rs' }), 'no key for this algorithm'],
    ['HS256 signed with the RSA public key (no kid)', hmacWith(keys.rs!.spki, base(), {}), 'invalid signature'],
    ['kid path traversal', await sign(attacker, base(), { kid: '../../etc/passwd' }), 'unknown key id'],
    ['kid SQL injection', await sign(attacker, base(), { kid: "x' OR '1'='1" }), 'unknown key id'],
    ['kid __proto__', await sign(attacker, base(), { kid: '__proto__' }), 'unknown key id'],
    ['kid command injection', await sign(attacker, base(), { kid: '$(touch /tmp/pwned); `id`' }), 'unknown key id'],
    ['jwk header (embedded key signs)', await sign(attacker, base(), { kid: undefined, jwk: attacker.jwk }), 'invalid signature'],
    ['jku header to the attacker', await sign(attacker, base(), { kid: 'evil', jku: 'http://127.0.0.1:9/jwks.json' }), 'unknown key id'],
    ['x5c header (an attacker certificate chain)', await sign(attacker, base(), { kid: undefined, x5c: ['MIIBattackerCertificate'] }), 'invalid signature'],
    ['x5u header to the attacker', await sign(attacker, base(), { kid: 'rs', x5u: 'http://127.0.0.1:9/cert.pem' }), 'invalid signature'],
    ['expired', await sign(keys.rs!, { ...base(), exp: nowS() - 3600 }), 'token expired'],
    ['not yet valid', await sign(keys.rs!, { ...base(), nbf: nowS() + 3600 }), 'token not yet valid'],
    ['wrong issuer', await sign(keys.rs!, { ...base(), iss: 'https://other.test' }), 'unexpected issuer'],
    ['wrong audience', await sign(keys.rs!, { ...base(), aud: 'other' }), 'unexpected audience'],
    ['no exp', await new (await import('jose')).SignJWT(base()).setProtectedHeader({ alg: 'ES256', kid: 'es' }).sign(keys.es!.privateKey), 'token has no exp claim'],
    ['no sub', await sign(keys.es!, { iss: 'https://issuer.test', aud: 'api' }), 'token has no sub claim'],
    ['not a JWT', 'abc', 'malformed token'],
    ['garbage header', 'e30x.e30.e30', /malformed token/],
  ];
  const good = await sign(keys.rs!, base());
  const [h, p, s] = good.split('.');
  const tampered = Buffer.from(JSON.stringify({ ...base(), sub: 'admin', exp: nowS() + 600 })).toString('base64url');
  cases.push(['tampered payload', `${h}.${tampered}.${s}`, 'invalid signature']);
  cases.push(['truncated signature', `${h}.${p}.${s!.slice(0, s!.length - 10)}`, /invalid signature|malformed token/]);
  cases.push(['signature stripped', `${h}.${p}.`, /invalid signature|malformed token/]);
  for (const [name, token, why] of cases) {
    const r = await outcome(svc, token);
    assert.doesNotThrow(() => refusedWith(r, why), `${name}: ${JSON.stringify(r)}`);
  }
  svc.close();
});

test('an HMAC secret is never used for an RSA alg, nor an RSA key for HS256, even when algorithms allow both', async () => {
  const svc = await service({ algorithms: ['RS256', 'HS256'] }, ['rs', 'hs']);
  // HS256 naming the HMAC key's kid but signed with the RSA public key text: the HMAC check fails.
  refusedWith(await outcome(svc, hmacWith(keys.rs!.spki, base(), { kid: 'hs' })), 'invalid signature');
  // RS256 naming the HMAC key's kid: no RSA key by that id.
  refusedWith(await outcome(svc, await sign(keys.rs!, base(), { kid: 'hs' })), 'no key for this algorithm');
  // An alg outside the provider's list (ES256) is refused before any key is tried.
  refusedWith(await outcome(svc, await sign(keys.es!, base())), 'algorithm not allowed');
  // A key whose type fits none of the provider's algorithms is refused at load.
  await assert.rejects(service({ algorithms: ['RS256'] }, ['es']), /fits none of the provider's algorithms/);
  svc.close();
});

test('identity: consumer claim, scopes (scope string, scp array), roles from a dotted path, required claim values', async () => {
  const svc = await service({ consumerClaim: 'client_id', rolesClaim: 'realm_access.roles', claims: { tenant: ['acme', 'globex'] }, requiredClaims: ['org.id'] });
  const ok = await outcome(svc, await sign(keys.ed!, { ...base(), client_id: 'svc-1', scope: 'read write', realm_access: { roles: ['admin', 'ops'] }, tenant: 'acme', org: { id: 7 } }));
  assert.ok(!(ok instanceof AuthFailure) && ok !== null);
  assert.deepEqual([ok.consumer, ok.scopes, ok.roles], ['svc-1', ['read', 'write'], ['admin', 'ops']]);
  const scp = await outcome(svc, await sign(keys.ed!, { ...base(), client_id: 'svc-2', scp: ['a', 'b'], tenant: 'globex', org: { id: 1 } }));
  assert.ok(!(scp instanceof AuthFailure) && scp !== null);
  assert.deepEqual(scp.scopes, ['a', 'b']);
  refusedWith(await outcome(svc, await sign(keys.ed!, { ...base(), client_id: 'x', tenant: 'initech', org: { id: 1 } })), 'invalid tenant claim');
  refusedWith(await outcome(svc, await sign(keys.ed!, { ...base(), client_id: 'x', tenant: 'acme' })), 'token has no org.id claim');
  svc.close();
});

test('a revoked jti is refused, also from the cache', async () => {
  const svc = await service();
  const t = await sign(keys.es!, { ...base(), jti: 'tok-1' });
  assert.ok(!((await outcome(svc, t)) instanceof AuthFailure));
  svc.received({ t: 'revoke', jti: 'tok-1', until: Date.now() + 60_000 });
  refusedWith(svc.providers.get('p')!.check(t) as AuthResult, 'token revoked');
  svc.received({ t: 'unrevoke', jti: 'tok-1' });
  assert.ok(!(svc.providers.get('p')!.check(t) instanceof AuthFailure));
  svc.close();
});

test('an unknown kid asks the supervisor for a refetch and uses the set it answers with', async () => {
  const sent: ToSupervisor[] = [];
  const channel = io(sent);
  const svc = new JwtService({ providers: { r: { jwksUrl: 'http://127.0.0.1:9/jwks', cooldownSeconds: 30 } } }, undefined, channel);
  const old = await signingKey('ES256', 'old');
  const next = await signingKey('ES256', 'new');
  channel.handler!({ t: 'keys', provider: 'r', url: 'http://127.0.0.1:9/jwks', keys: [old.jwk] });
  const p = svc.providers.get('r')!;
  assert.ok(!((await p.check(await sign(old, { sub: 'a' }))) instanceof AuthFailure));
  const pending = p.check(await sign(next, { sub: 'b' }));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent, [{ t: 'refetch', provider: 'r', url: 'http://127.0.0.1:9/jwks' }]);
  channel.handler!({ t: 'keys', provider: 'r', url: 'http://127.0.0.1:9/jwks', keys: [old.jwk, next.jwk], answer: true });
  const r = await pending;
  assert.ok(!(r instanceof AuthFailure) && r !== null, JSON.stringify(r));
  assert.equal(r.consumer, 'b');
  // Within the cooldown a made-up kid does not ask again: refused at once.
  refusedWith(await p.check(await sign(await signingKey('ES256', 'made-up'), { sub: 'c' })), 'unknown key id');
  assert.equal(sent.length, 1);
  svc.close();
});

test('a new config version keeps fetched key sets, revocations and (same provider settings) the cache', async () => {
  const url = 'http://127.0.0.1:9/jwks';
  const key = await signingKey('ES256', 'k');
  const ch1 = io();
  const v1 = new JwtService({ providers: { r: { jwksUrl: url } } }, undefined, ch1);
  ch1.handler!({ t: 'keys', provider: 'r', url, keys: [key.jwk] });
  ch1.handler!({ t: 'revoke', jti: 'gone', until: null });
  const t = await sign(key, { sub: 'a' });
  assert.ok(!((await v1.providers.get('r')!.check(t)) instanceof AuthFailure));
  const ch2 = io();
  const v2 = new JwtService({ providers: { r: { jwksUrl: url } } }, v1, ch2);
  v1.close();
  const again = v2.providers.get('r')!.check(t);
  assert.ok(!(again instanceof Promise) && !(again instanceof AuthFailure), 'the set and the cache came along');
  refusedWith(await v2.providers.get('r')!.check(await sign(key, { sub: 'b', jti: 'gone' })), 'token revoked');
  // Another URL for the provider: the old set is not used for it.
  const v3 = new JwtService({ providers: { r: { jwksUrl: 'http://127.0.0.1:9/other', fetchTimeoutMs: 100 } } }, v2, io());
  v2.close();
  // Nobody answers the refetch here: the wait ends on its (unref'd) timer, so hold the loop open meanwhile.
  const hold = setTimeout(() => {}, 10_000);
  const r = await v3.providers.get('r')!.check(await sign(key, { sub: 'c' }));
  clearTimeout(hold);
  assert.ok(r instanceof AuthFailure && r.kind === 'unavailable', JSON.stringify(r));
  v3.close();
});
