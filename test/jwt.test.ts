// The jwt auth method in a real gateway (2 workers, a real upstream and a
// real JWKS server on loopback, tokens signed by jose): every algorithm,
// the attacks, key rotation under load, the JWKS endpoint going away, the
// refetch cooldown, the credential kept from the upstream, revocation on
// every worker, the load-time checks, and no secret in the logs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { hmacKey, hmacWith, nowS, sign, signingKey, startJwksServer, unsecured, type JwksServer, type SigningKey } from './helpers/jwt.js';

const ADMIN = 'jwt-admin-token-0123456789abcdef';
const HS_SECRET = 'gateway-hmac-secret-Zq8x0123456789abcdefXYZ';
const ISS = 'https://issuer.test';
let gw: Gateway;
let up: Upstream;
let jwks: JwksServer;
let downJwks: JwksServer;
const k: Record<string, SigningKey> = {};
/** Every token and secret the test used: none may appear in the gateway's output. */
const secrets = new Set<string>([ADMIN, HS_SECRET]);

async function tok(key: SigningKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
  const t = await sign(key, { iss: ISS, aud: 'api', sub: 'alice', ...claims }, header);
  secrets.add(t);
  return t;
}

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One request on a new connection (either worker may take it). */
function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: gw.port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.setTimeout(20_000, () => req.destroy(new Error('no answer in 20 s')));
    req.on('error', reject);
  });
}

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });
const seenBy = (a: Answer): Record<string, string> => (JSON.parse(a.body) as { headers: Record<string, string> }).headers;

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${gw.adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
}
function metric(text: string, name: string, provider: string): number | undefined {
  const m = new RegExp(`^${name}\\{provider="${provider}"\\} ([0-9.e+]+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}
async function until(what: string, check: () => Promise<boolean>, tries = 100, everyMs = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  assert.fail(`never happened: ${what}`);
}

async function workerPids(): Promise<string[]> {
  const r = await fetch(`http://127.0.0.1:${gw.adminPort}/workers`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return ((await r.json()) as { workers: { pid: number }[] }).workers.map((w) => w.pid.toString(36));
}
/** Which worker answered (request ids start with the worker's pid in base 36; a proxied answer's id is the one the upstream saw). */
function workerOf(a: Answer, pids: string[]): string | undefined {
  const id = String(a.status === 200 ? seenBy(a)['x-request-id'] : a.headers['x-request-id']);
  return pids.filter((p) => id.startsWith(p)).sort((x, y) => y.length - x.length)[0];
}

before(async () => {
  for (const [alg, kid] of [['RS256', 'rs'], ['PS256', 'ps'], ['ES256', 'es'], ['EdDSA', 'ed'], ['ES256', 'rot-a'], ['ES256', 'rot-b'], ['ES256', 'kid-1'], ['ES256', 'down-1'], ['RS256', 'evil']] as const) {
    k[kid] = await signingKey(alg, kid);
  }
  k.hs = hmacKey(HS_SECRET, 'hs');
  up = await startUpstream();
  jwks = await startJwksServer();
  downJwks = await startJwksServer();
  jwks.set('/rot', [k['rot-a']!.jwk], 'max-age=3600');
  jwks.set('/kid', [k['kid-1']!.jwk], 'max-age=3600');
  jwks.set('/attacker', [k.evil!.jwk]);
  downJwks.set('/down', [k['down-1']!.jwk], 'max-age=1');
  const keyDir = mkdtempSync(join(tmpdir(), 'wicket-jwt-keys-'));
  writeFileSync(join(keyDir, 'es.pem'), k.es!.spki);
  const route = (name: string, provider: string, extra = '') =>
    `  - name: ${name}\n    match: { path: "/${name}/*" }\n    upstream: u\n    auth: { methods: [ { jwt: { provider: ${provider}${extra} } } ], upstreamHeaders: { x-consumer: consumer, x-tenant: "claim:tenant", x-scopes: scopes } }\n`;
  const yaml =
    `auth:\n  jwt:\n    providers:\n` +
    `      local:\n        issuer: ${ISS}\n        audiences: [api]\n        keys:\n` +
    `          - { kid: rs, pem: ${JSON.stringify(k.rs!.spki)} }\n` +
    `          - { kid: ps, jwk: ${JSON.stringify(k.ps!.jwk)} }\n` +
    `          - { kid: es, pemFile: ${JSON.stringify(join(keyDir, 'es.pem'))} }\n` +
    `          - { kid: ed, jwk: ${JSON.stringify(k.ed!.jwk)} }\n` +
    `          - { kid: hs, secretEnv: WICKET_TEST_JWT_HS }\n` +
    `      rot: { issuer: ${ISS}, audiences: [api], jwksUrl: "${jwks.url('/rot')}" }\n` +
    `      kid: { issuer: ${ISS}, audiences: [api], jwksUrl: "${jwks.url('/kid')}", cooldownSeconds: 30 }\n` +
    `      down: { issuer: ${ISS}, audiences: [api], jwksUrl: "${downJwks.url('/down')}", minTtlSeconds: 1, maxTtlSeconds: 1, fetchTimeoutMs: 500 }\n` +
    `upstreams:\n  u: { targets: [{ url: "${up.url}" }] }\n  g: { protocol: h2, targets: [{ url: "${up.url}" }] }\nroutes:\n` +
    `  - name: grpc\n    match: { path: "/pkg.Svc/*" }\n    upstream: g\n    auth: { methods: [ { jwt: { provider: local } } ] }\n` +
    route('local', 'local') +
    route('rot', 'rot') +
    route('kid', 'kid') +
    route('down', 'down') +
    route('q', 'local', ', from: [ { query: access_token } ]') +
    route('cookie', 'local', ', from: [ { cookie: session } ], hideCredentials: true');
  gw = await startGateway(yaml, { workers: 2, adminToken: ADMIN, h2c: true, env: { WICKET_TEST_JWT_HS: HS_SECRET } });
  // The supervisor's first fetches: every remote provider has its set before the tests start.
  await until('key sets fetched', async () => {
    const m = await metrics();
    return ['rot', 'kid', 'down'].every((p) => metric(m, 'wicket_jwks_keys', p) === 1);
  });
});

after(async () => {
  await gw?.stop();
  await up?.close();
  await jwks?.close();
  await downJwks?.close();
});

test('RS256, PS256, ES256 (PEM file), EdDSA and HS256 (secret from the environment) tokens are accepted', async () => {
  for (const kid of ['rs', 'ps', 'es', 'ed', 'hs']) {
    const a = await get('/local/x', bearer(await tok(k[kid]!, { sub: `user-${kid}` })));
    assert.equal(a.status, 200, `${kid}: ${a.body}`);
    assert.equal(seenBy(a)['x-consumer'], `user-${kid}`);
  }
});

test('no token: 401 with just the realm; a bad token: 401 invalid_token with a description', async () => {
  const none = await get('/local/x');
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="wicket"');
  const basic = await get('/local/x', { authorization: 'Basic YWxpY2U6c2VjcmV0' });
  assert.equal(basic.status, 401, 'another scheme is no bearer token');
  assert.equal(basic.headers['www-authenticate'], 'Bearer realm="wicket"');
  const bad = await get('/local/x', bearer(await tok(k.rs!, { exp: nowS() - 120 })));
  assert.equal(bad.status, 401);
  assert.equal(bad.headers['www-authenticate'], 'Bearer realm="wicket", error="invalid_token", error_description="token expired"');
});

test('a gRPC call without a valid token gets UNAUTHENTICATED (grpc-status 16), trailers-only', async () => {
  const session = http2.connect(`http://127.0.0.1:${gw.h2cPort}`);
  try {
    for (const headers of [{}, bearer(await tok(k.rs!, { exp: nowS() - 60 }))]) {
      const st = session.request({ ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers', ...headers });
      st.end(Buffer.from([0, 0, 0, 0, 0]));
      const head = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
        st.once('response', resolve);
        st.once('error', reject);
      });
      st.resume();
      await new Promise((r) => st.once('close', r));
      assert.equal(head[':status'], 200);
      assert.equal(head['grpc-status'], '16', JSON.stringify(head));
    }
  } finally {
    session.close();
  }
});

test('attacks are refused with 401, and no key is fetched from a token header', async () => {
  const base = { iss: ISS, aud: 'api', sub: 'alice' };
  const good = await tok(k.rs!);
  const [h, p, s] = good.split('.');
  const cases: [string, string][] = [
    ['alg none', unsecured(base, { kid: 'rs' })],
    ['alg none, no kid', unsecured(base)],
    ['HS256 signed with the RSA public key as the secret', hmacWith(k.rs!.spki, base, { kid: 'rs' })],
    ['HS256 signed with the RSA public key, no kid', hmacWith(k.rs!.spki, base, {})],
    ['HS256 signed with the RSA public key, kid of the HMAC key', hmacWith(k.rs!.spki, base, { kid: 'hs' })],
    ['kid path traversal', await tok(k.evil!, {}, { kid: '../../etc/passwd' })],
    ['kid SQL injection', await tok(k.evil!, {}, { kid: "' OR 1=1 --" })],
    ['kid __proto__', await tok(k.evil!, {}, { kid: '__proto__' })],
    ['kid with a NUL and CRLF', await tok(k.evil!, {}, { kid: 'rs\u0000\r\nx' })],
    ['jku to the attacker', await tok(k.evil!, {}, { jku: jwks.url('/attacker') })],
    ['jku to the attacker, kid of a real key', await tok(k.evil!, {}, { kid: 'rs', jku: jwks.url('/attacker') })],
    ['x5u to the attacker', await tok(k.evil!, {}, { kid: 'rs', x5u: jwks.url('/attacker-cert') })],
    ['embedded jwk (the attacker key signs)', await tok(k.evil!, {}, { kid: undefined, jwk: k.evil!.jwk })],
    ['embedded jwk with a real kid', await tok(k.evil!, {}, { kid: 'rs', jwk: k.evil!.jwk })],
    ['expired', await tok(k.es!, { exp: nowS() - 3600 })],
    ['not yet valid', await tok(k.es!, { nbf: nowS() + 3600 })],
    ['wrong issuer', await tok(k.es!, { iss: 'https://evil.test' })],
    ['wrong audience', await tok(k.es!, { aud: 'other' })],
    ['tampered payload', `${h}.${Buffer.from(JSON.stringify({ ...base, sub: 'admin', exp: nowS() + 600 })).toString('base64url')}.${s}`],
    ['truncated signature', `${h}.${p}.${s!.slice(0, -8)}`],
    ['no signature', `${h}.${p}.`],
    ['not a JWT', 'abc.def'],
  ];
  const pidsBefore = await workerPids();
  for (const [name, t] of cases) {
    secrets.add(t);
    const a = await get('/local/x', bearer(t));
    assert.equal(a.status, 401, `${name}: ${a.status} ${a.body}`);
    assert.match(String(a.headers['www-authenticate']), /^Bearer realm="wicket", error="invalid_token", error_description="[^"]+"$/, name);
  }
  assert.equal(jwks.hits('/attacker') + jwks.hits('/attacker-cert'), 0, 'jku/x5u were never fetched');
  assert.deepEqual(await workerPids(), pidsBefore, 'no worker died');
});

test('a token in the query never reaches the upstream; identity headers replace the client-sent copies; a hidden cookie is removed', async () => {
  const t = await tok(k.ed!, { tenant: 'acme', scope: 'read write' });
  const a = await get(`/q/x?a=1&access_token=${t}&b=2`, { 'x-consumer': 'mallory', 'x-tenant': 'evil' });
  assert.equal(a.status, 200, a.body);
  const seen = JSON.parse(a.body) as { url: string; headers: Record<string, string> };
  assert.equal(seen.url, '/q/x?a=1&b=2');
  assert.equal(seen.headers['x-consumer'], 'alice');
  assert.equal(seen.headers['x-tenant'], 'acme');
  assert.equal(seen.headers['x-scopes'], 'read write');
  assert.ok(!JSON.stringify(seen).includes(t.split('.')[2]!), 'no part of the token upstream');
  const c = await get('/cookie/x', { cookie: `theme=dark; session=${t}; lang=en` });
  assert.equal(c.status, 200, c.body);
  assert.equal(seenBy(c).cookie, 'theme=dark; lang=en');
  // The bearer header is forwarded unless hidden (the default keeps it, as the upstream may want it).
  const b = await get('/local/x', bearer(t));
  assert.equal(seenBy(b).authorization, `Bearer ${t}`);
});

test('key rotation under load: tokens of the old and the new key during the overlap, zero failed requests', async () => {
  const hitsBefore = jwks.hits('/rot');
  let n = 0;
  const failures: string[] = [];
  const load = async (tokens: [string, string][], concurrency: number): Promise<void> => {
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < tokens.length) {
          const [t, sub] = tokens[next++]!;
          const a = await get('/rot/x', bearer(t));
          n++;
          if (a.status !== 200 || seenBy(a)['x-consumer'] !== sub) failures.push(`${sub}: ${a.status} ${a.body.slice(0, 200)}`);
        }
      }),
    );
  };
  const batch = async (kids: string[], count: number, tag: string): Promise<[string, string][]> =>
    Promise.all(Array.from({ length: count }, async (_, i) => [await tok(k[kids[i % kids.length]!]!, { sub: `${tag}-${i}`, jti: `${tag}-${i}` }), `${tag}-${i}`] as [string, string]));
  // Old key only, then the JWKS serves both (the overlap) while tokens of both arrive, then the new one only.
  await load(await batch(['rot-a'], 100, 'old'), 8);
  jwks.set('/rot', [k['rot-a']!.jwk, k['rot-b']!.jwk], 'max-age=3600');
  await load(await batch(['rot-b', 'rot-a'], 300, 'overlap'), 16);
  jwks.set('/rot', [k['rot-b']!.jwk], 'max-age=3600');
  await load(await batch(['rot-b'], 100, 'new'), 8);
  assert.deepEqual(failures, []);
  assert.equal(n, 500);
  // The new kid made the gateway refetch: once (a second worker's ask within the cooldown is answered from the set just fetched).
  assert.equal(jwks.hits('/rot') - hitsBefore, 1);
});

test('unknown kids trigger at most one refetch per cooldown, gateway-wide', async () => {
  const before = jwks.hits('/kid');
  const pids = await workerPids();
  const workers = new Set<string>();
  for (let i = 0; i < 30; i++) {
    const ghost = await signingKey('ES256', `ghost-${i}`);
    const a = await get('/kid/x', bearer(await tok(ghost)));
    assert.equal(a.status, 401);
    assert.match(String(a.headers['www-authenticate']), /error_description="unknown key id"/);
    const w = workerOf(a, pids);
    if (w !== undefined) workers.add(w);
  }
  assert.equal(workers.size, 2, 'both workers saw unknown kids');
  assert.equal(jwks.hits('/kid') - before, 1, 'one refetch for 30 unknown kids on 2 workers');
  const m = await metrics();
  assert.equal(metric(m.replace(/,result="run"/g, ''), 'wicket_jwks_refetches_total', 'kid'), 1);
  // The real key still works.
  assert.equal((await get('/kid/x', bearer(await tok(k['kid-1']!)))).status, 200);
});

test('JWKS endpoint down: the last good set keeps serving, /metrics says stale', async () => {
  assert.equal((await get('/down/x', bearer(await tok(k['down-1']!, { sub: 'before' })))).status, 200);
  assert.equal(metric(await metrics(), 'wicket_jwks_stale', 'down'), 0);
  await downJwks.close();
  await until('stale', async () => metric(await metrics(), 'wicket_jwks_stale', 'down') === 1);
  const m = await metrics();
  assert.equal(metric(m, 'wicket_jwks_keys', 'down'), 1);
  assert.ok(metric(m, 'wicket_jwks_last_success_timestamp_seconds', 'down')! > 0);
  assert.match(m, /^wicket_jwks_fetches_total\{provider="down",result="error"\} [1-9]/m);
  // New tokens (not in any cache) are verified with the last good set.
  for (let i = 0; i < 10; i++) {
    const a = await get('/down/x', bearer(await tok(k['down-1']!, { sub: `during-${i}` })));
    assert.equal(a.status, 200, a.body);
  }
});

test('a revoked jti is refused on every worker within a second, cached or not', async () => {
  const t = await tok(k.es!, { jti: 'revoke-me', sub: 'rev' });
  const pids = await workerPids();
  const warm = new Set<string>();
  for (let i = 0; i < 60 && warm.size < 2; i++) {
    const a = await get('/local/x', bearer(t));
    assert.equal(a.status, 200);
    const w = workerOf(a, pids);
    if (w !== undefined) warm.add(w);
  }
  assert.equal(warm.size, 2, 'the token is in both workers\' caches');
  const admin = (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`http://127.0.0.1:${gw.adminPort}/auth/jwt${path}`, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.equal((await admin('POST', '/revocations', { jti: 42 })).status, 400);
  const posted = await admin('POST', '/revocations', { jti: 'revoke-me', exp: nowS() + 600 });
  assert.equal(posted.status, 201);
  const deadline = Date.now() + 1000;
  const refused = new Set<string>();
  while (refused.size < 2) {
    assert.ok(Date.now() < deadline, `refused on ${refused.size} of 2 workers after a second`);
    const a = await get('/local/x', bearer(t));
    if (a.status === 401) {
      assert.match(String(a.headers['www-authenticate']), /token revoked/);
      const w = workerOf(a, pids);
      if (w !== undefined) refused.add(w);
    }
  }
  const list = (await (await admin('GET', '/revocations')).json()) as { revocations: { jti: string }[] };
  assert.deepEqual(list.revocations.map((r) => r.jti), ['revoke-me']);
  // Other tokens of the same key are untouched; deleting the revocation lets the token in again.
  assert.equal((await get('/local/x', bearer(await tok(k.es!, { jti: 'other' })))).status, 200);
  assert.equal((await admin('DELETE', '/revocations/revoke-me')).status, 200);
  await until('unrevoked', async () => (await get('/local/x', bearer(t))).status === 200, 20, 50);
  assert.equal((await admin('DELETE', '/revocations/revoke-me')).status, 404);
});

test('a bad jwt config is refused whole at load, with the path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-jwt-bad-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    `listen: { http: { host: 127.0.0.1, port: 1 } }\nauth:\n  jwt:\n    providers:\n      p:\n        keys:\n          - { pem: "-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----" }\n          - { secretEnv: WICKET_TEST_JWT_UNSET_VARIABLE }\n      q: { jwksUrl: "http://jwks.example.com/keys" }\n` +
      `upstreams:\n  u: { targets: [{ url: "http://127.0.0.1:1" }] }\nroutes:\n  - name: r\n    match: { path: "/r/*" }\n    upstream: u\n    auth: { methods: [ { jwt: { provider: nope } } ] }\n`,
  );
  const r = spawnSync(process.execPath, [CLI, 'validate', file], { encoding: 'utf8' });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /routes\[0\]\.auth\.methods\[0\]\.jwt\.provider.*no provider "nope"/);
  assert.match(r.stderr, /auth\.jwt\.providers\.p\.keys\[0\].*private key/);
  assert.match(r.stderr, /auth\.jwt\.providers\.p\.keys\[1\].*WICKET_TEST_JWT_UNSET_VARIABLE is not set/);
  assert.match(r.stderr, /auth\.jwt\.providers\.q\.jwksUrl.*https/);
  assert.ok(!r.stderr.includes('AAAA'), 'no key material in the message');
});

test('no secret or token appears in the gateway logs', () => {
  const out = gw.output.join('\n');
  assert.ok(out.length > 0);
  for (const s of secrets) {
    assert.ok(!out.includes(s), `a secret or token is in the logs: ${s.slice(0, 12)}...`);
    // The signature alone is enough to replay nothing, but it must not leak either.
    const sig = s.split('.')[2];
    if (sig !== undefined && sig.length > 16) assert.ok(!out.includes(sig), 'a token signature is in the logs');
  }
});
