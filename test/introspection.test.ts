// OAuth 2.0 token introspection (RFC 7662) against a real endpoint on
// loopback: active tokens pass and are cached, inactive ones get 401, an
// endpoint that is away gets 503 (or, fail-open, cached tokens still pass),
// and neither the client secret nor a token reaches the logs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep } from './helpers/wait.js';

const SECRET = 'introspect-s3cret-7f1c';
const TOKENS: Record<string, Record<string, unknown>> = {
  'tok-alice-5d1e9a': { active: true, sub: 'alice', scope: 'read write', roles: ['reader'], client_id: 'app' },
  'tok-bob-8c2b44': { active: true, username: 'bob', scope: 'write' },
  'tok-gone-1a2b3c': { active: false },
  'tok-open-77aa01': { active: true, sub: 'carol', scope: 'read' },
  'tok-strict-9e0f': { active: true, sub: 'dave', scope: 'read' },
};

describe('token introspection (RFC 7662)', { timeout: 60_000 }, () => {
  let gw: Gateway;
  let up: Upstream;
  let idp: http.Server;
  const calls = new Map<string, number>();
  let badClientAuth = 0;

  before(async () => {
    idp = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.headers.authorization !== `Basic ${Buffer.from(`gateway:${SECRET}`).toString('base64')}`) {
          badClientAuth++;
          res.writeHead(401, { 'content-type': 'application/json' });
          return res.end('{"error":"invalid_client"}');
        }
        const token = new URLSearchParams(body).get('token') ?? '';
        calls.set(token, (calls.get(token) ?? 0) + 1);
        const t = TOKENS[token];
        const answer = t === undefined ? { active: false } : t.active === true ? { ...t, exp: Math.floor(Date.now() / 1000) + 3600 } : t;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/introspect`;
    up = await startUpstream();
    const endpoint = (extra: string) => `{ url: "${url}", clientId: gateway, clientSecretEnv: WICKET_TEST_INTROSPECT_SECRET${extra} }`;
    gw = await startGateway(
      `upstreams:
  up: { targets: [ { url: "${up.url}" } ] }
auth:
  introspection:
    endpoints:
      idp: ${endpoint('')}
      open: ${endpoint(', cacheMaxSeconds: 1, failOpen: true')}
      strict: ${endpoint(', cacheMaxSeconds: 1')}
routes:
  - name: api
    match: { path: "/api/*" }
    upstream: up
    auth:
      methods: [ { introspection: { endpoint: idp } } ]
      require: { scopes: [ read ] }
      upstreamHeaders: { x-consumer: consumer, x-scopes: scopes }
  - name: open
    match: { path: "/open/*" }
    upstream: up
    auth: { methods: [ { introspection: { endpoint: open } } ] }
  - name: strict
    match: { path: "/strict/*" }
    upstream: up
    auth: { methods: [ { introspection: { endpoint: strict } } ] }
`,
      // One worker: the cache is per worker, and these tests count calls.
      { workers: 1, env: { WICKET_TEST_INTROSPECT_SECRET: SECRET } },
    );
  });

  after(async () => {
    await gw?.stop();
    await up?.close();
    idp?.closeAllConnections();
    idp?.close();
  });

  const get = async (path: string, token?: string, headers: Record<string, string> = {}) => {
    const r = await request(`${gw.url}${path}`, { headers: token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` } });
    return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
  };

  test('an active token passes with its identity; the client cannot forge the identity headers', async () => {
    const r = await get('/api/a', 'tok-alice-5d1e9a', { 'x-consumer': 'mallory' });
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-consumer'], 'alice');
    assert.equal(seen.headers['x-scopes'], 'read write');
  });

  test('no token: 401 with the realm; an inactive or unknown token: 401 invalid_token', async () => {
    const none = await get('/api/a');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="api"');
    for (const t of ['tok-gone-1a2b3c', 'tok-nobody-000']) {
      const r = await get('/api/a', t);
      assert.equal(r.status, 401);
      assert.match(String(r.headers['www-authenticate']), /^Bearer realm="api", error="invalid_token", error_description="the token is not active"$/);
      assert.equal(JSON.parse(r.body).error.code, 'WICKET_ERR_UNAUTHENTICATED');
    }
  });

  test('two Authorization fields are refused (400): auth would check one, the upstream might read the other', async () => {
    const r = await request(`${gw.url}/api/a`, { headers: ['authorization', 'Bearer tok-alice-5d1e9a', 'authorization', 'Bearer tok-gone-1a2b3c'] });
    assert.equal(r.statusCode, 400);
    await r.body.dump();
  });

  test('a token without the scope the route requires: 403', async () => {
    const r = await get('/api/a', 'tok-bob-8c2b44');
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.body).error.code, 'WICKET_ERR_PERMISSION_DENIED');
  });

  test('active tokens are cached: 30 requests, concurrent and sequential, make one call', async () => {
    const t = 'tok-bob-8c2b44';
    const before = calls.get(t) ?? 0;
    await Promise.all(Array.from({ length: 10 }, () => get('/open/x', t)));
    for (let i = 0; i < 20; i++) assert.equal((await get('/open/x', t)).status, 200);
    // bob was introspected once by the 403 test on another endpoint (separate caches): the open endpoint adds one call.
    assert.equal((calls.get(t) ?? 0) - before, 1);
  });

  test('endpoint away: 503 for tokens it must check; fail-open serves tokens already seen active until their exp', async () => {
    assert.equal((await get('/open/x', 'tok-open-77aa01')).status, 200);
    assert.equal((await get('/strict/x', 'tok-strict-9e0f')).status, 200);
    idp.closeAllConnections();
    await new Promise<void>((r) => idp.close(() => r()));
    await sleep(1100); // past cacheMaxSeconds: both must ask the endpoint again
    const open = await get('/open/x', 'tok-open-77aa01');
    assert.equal(open.status, 200, `fail-open, seen active before: ${open.body}`);
    const strict = await get('/strict/x', 'tok-strict-9e0f');
    assert.equal(strict.status, 503);
    assert.equal(JSON.parse(strict.body).error.code, 'WICKET_ERR_AUTH_UNAVAILABLE');
    const fresh = await get('/open/x', 'tok-alice-5d1e9a');
    assert.equal(fresh.status, 503, 'never seen on this endpoint: fail-open does not cover it');
    // Cached and fresh on its endpoint: still served without the endpoint.
    assert.equal((await get('/api/a', 'tok-alice-5d1e9a')).status, 200);
  });

  test('the gateway authenticated itself every time; no secret or token in the logs; the worker lives', async () => {
    assert.equal(badClientAuth, 0);
    const log = gw.output.join('\n');
    for (const s of [SECRET, ...Object.keys(TOKENS), Buffer.from(`gateway:${SECRET}`).toString('base64')]) assert.ok(!log.includes(s), `"${s}" in the gateway output`);
    assert.ok(!/worker died/.test(log));
  });
});

describe('introspection config errors are refused at load with their paths', () => {
  test('an unknown endpoint and an unset secret variable', async () => {
    const { loadConfig, formatConfigErrors, ConfigInvalidError } = await import('../src/config/load.js');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'wicket-introspect-')), 'g.yaml');
    writeFileSync(
      file,
      `listen: { http: { port: 18080 } }
auth:
  introspection:
    endpoints:
      idp: { url: "http://127.0.0.1:9/x", clientId: gw, clientSecretEnv: WICKET_TEST_UNSET_SECRET_VAR }
routes:
  - name: a
    match: { path: /a }
    respond: { status: 200 }
    auth: { methods: [ { introspection: { endpoint: nope } } ] }
`,
    );
    await assert.rejects(loadConfig(file), (e: unknown) => {
      assert.ok(e instanceof ConfigInvalidError);
      const lines = formatConfigErrors(e).join('\n');
      assert.match(lines, /auth\.introspection\.endpoints\.idp\.clientSecretEnv: environment variable WICKET_TEST_UNSET_SECRET_VAR is not set \(line 5\)/);
      assert.match(lines, /routes\[0\]\.auth\.methods\[0\]\.introspection\.endpoint: no endpoint "nope"/);
      return true;
    });
  });
});
