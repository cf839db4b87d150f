import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestContext } from '../../pipeline/context.js';
import type { Decision, Filter } from '../../pipeline/filter.js';
import type { Identity } from '../../pipeline/identity.js';
import { AuthFailure, withoutQueryParam, type AuthResult, type Authenticator } from './authenticator.js';
import { compileAuth } from './index.js';
import type { AuthRouteConfig, AuthSectionConfig } from './schema.js';

/** A method reading one header: absent -> no credential; `bad` -> invalid; `down` -> unavailable; else that consumer. */
function headerMethod(kind: string, header: string, extra: Partial<Identity> = {}, async = false): Authenticator {
  return {
    kind,
    authenticate(ctx): AuthResult | Promise<AuthResult> {
      const v = ctx.header(header);
      const r: AuthResult =
        v === undefined ? null
        : v === 'bad' ? new AuthFailure('invalid', 'not a good token')
        : v === 'down' ? new AuthFailure('unavailable', 'key set unavailable')
        : { method: kind, consumer: v, claims: { sub: v, tenant: 't1', org: { id: 'o1' } }, scopes: ['read'], roles: [], ...extra };
      return async ? Promise.resolve(r) : r;
    },
    challenge: (f) => (f === null ? `${kind} realm="api"` : `${kind} realm="api", error="invalid_token"`),
    strip: (ctx) => {
      ctx.query = withoutQueryParam(ctx.query, 'token');
    },
  };
}

function req(headers: string[], method = 'GET', params: Record<string, string> = {}): RequestContext {
  const c = new RequestContext(0);
  c.method = method;
  c.headers = headers;
  c.params = params;
  c.remoteAddress = '10.1.2.3';
  c.query = 'token=abc&x=1';
  return c;
}

function auth(cfg: Omit<AuthRouteConfig, 'methods'>, methods: Authenticator[], roles?: AuthSectionConfig['roles']): Filter {
  return compileAuth({ methods: [{}], ...cfg }, methods, 'api', roles, (c) => c.remoteAddress);
}

async function run(f: Filter, c: RequestContext): Promise<Decision> {
  return f.onRequest!(c);
}

const A = headerMethod('a', 'x-a');
const B = headerMethod('b', 'x-b', { roles: ['writer'], scopes: ['write'] }, true);

test('auth any: the first method with a credential decides; none: 401 with every challenge; a bad one is never anonymous', async () => {
  const f = auth({}, [A, B]);
  const ok = req(['x-b', 'carol']);
  assert.equal(await run(f, ok), undefined);
  assert.equal(ok.identity?.consumer, 'carol');
  assert.equal(ok.query, 'x=1', 'the method took its credential off the query');

  const none = req([]);
  assert.deepEqual(await run(f, none), { error: 'WICKET_ERR_UNAUTHENTICATED' });
  assert.deepEqual(none.extraHeaders, ['www-authenticate', 'a realm="api"', 'www-authenticate', 'b realm="api"']);

  const bad = req(['x-a', 'bad', 'x-b', 'carol']);
  assert.deepEqual(await run(f, bad), { error: 'WICKET_ERR_UNAUTHENTICATED' }, 'a bad first credential is not rescued by a later one');
  assert.deepEqual(bad.extraHeaders, ['www-authenticate', 'a realm="api", error="invalid_token"', 'www-authenticate', 'b realm="api"']);
  assert.equal(bad.identity, null);

  const anon = auth({ anonymous: true }, [A]);
  const a1 = req([]);
  assert.equal(await run(anon, a1), undefined);
  assert.equal(a1.identity?.consumer, 'anonymous');
  assert.deepEqual(await run(anon, req(['x-a', 'bad'])), { error: 'WICKET_ERR_UNAUTHENTICATED' });
  assert.equal(a1.query, 'token=abc&x=1', 'no credential taken: the query is untouched');
});

test('auth: a method that cannot decide answers 503, not 401', async () => {
  assert.deepEqual(await run(auth({}, [A]), req(['x-a', 'down'])), { error: 'WICKET_ERR_AUTH_UNAVAILABLE' });
});

test('auth all: every method must pass; the identity merges scopes and roles', async () => {
  const f = auth({ mode: 'all', require: { scopes: ['read', 'write'], roles: ['writer'] } }, [A, B]);
  const both = req(['x-a', 'alice', 'x-b', 'bob']);
  assert.equal(await run(f, both), undefined);
  assert.equal(both.identity?.consumer, 'alice');
  assert.deepEqual([...both.identity!.scopes].sort(), ['read', 'write']);
  const one = req(['x-a', 'alice']);
  assert.deepEqual(await run(f, one), { error: 'WICKET_ERR_UNAUTHENTICATED' });
  assert.equal(one.identity, null);
});

test('authorization: scopes, roles, claims, ABAC conditions, per-method rules; 403 for a known caller, 401 for anonymous', async () => {
  const f = auth(
    {
      anonymous: true,
      require: {
        scopes: ['read'],
        claims: { 'org.id': 'o1' },
        when: [
          { claim: 'tenant', equals: '{param.tenant}' },
          { ip: true, inCidr: ['10.0.0.0/8'] },
          { header: 'x-env', oneOf: ['prod', 'staging'] },
        ],
      },
      methodRequire: { DELETE: { roles: ['admin'] } },
    },
    [A],
  );
  const good = () => req(['x-a', 'u', 'x-env', 'prod'], 'GET', { tenant: 't1' });
  assert.equal(await run(f, good()), undefined);
  assert.deepEqual(await run(f, req(['x-a', 'u', 'x-env', 'prod'], 'GET', { tenant: 't2' })), { error: 'WICKET_ERR_PERMISSION_DENIED' }, 'tenant claim vs path');
  assert.deepEqual(await run(f, req(['x-a', 'u', 'x-env', 'dev'], 'GET', { tenant: 't1' })), { error: 'WICKET_ERR_PERMISSION_DENIED' });
  const far = good();
  far.remoteAddress = '192.0.2.1';
  assert.deepEqual(await run(f, far), { error: 'WICKET_ERR_PERMISSION_DENIED' }, 'client address outside the range');
  assert.deepEqual(await run(f, req(['x-a', 'u', 'x-env', 'prod'], 'DELETE', { tenant: 't1' })), { error: 'WICKET_ERR_PERMISSION_DENIED' });
  const anon = req(['x-env', 'prod'], 'GET', { tenant: 't1' });
  assert.deepEqual(await run(f, anon), { error: 'WICKET_ERR_UNAUTHENTICATED' }, 'anonymous callers are told to authenticate');
});

test('RBAC: roles grant routes and methods from the shared table', async () => {
  const writer = headerMethod('w', 'x-w', { roles: ['writer'] });
  const f = auth({ require: { rbac: true } }, [writer], { writer: [{ routes: ['api'], methods: ['GET', 'POST'] }], admin: [{ routes: ['*'] }] });
  assert.equal(await run(f, req(['x-w', 'u'], 'POST')), undefined);
  assert.deepEqual(await run(f, req(['x-w', 'u'], 'DELETE')), { error: 'WICKET_ERR_PERMISSION_DENIED' });
  assert.throws(() => auth({ require: { rbac: true } }, [writer]), /auth\.require: rbac: true needs the top-level auth.roles table/);
});

test('upstream headers come from the identity; client copies are removed', async () => {
  const f = auth({ upstreamHeaders: { 'x-consumer': 'consumer', 'x-tenant': 'claim:tenant', 'x-org': 'claim:org', 'x-scopes': 'scopes' } }, [A]);
  const c = req(['x-a', 'dave', 'x-consumer', 'spoofed']);
  await run(f, c);
  const out = ['host', 'u', 'x-consumer', 'spoofed', 'x-tenant', 'evil'];
  f.onUpstreamRequest!(c, out);
  assert.deepEqual(out, ['host', 'u', 'x-consumer', 'dave', 'x-tenant', 't1', 'x-org', '{"id":"o1"}', 'x-scopes', 'read']);
});

test('withoutQueryParam drops every occurrence, encoded or not, and keeps the rest byte for byte', () => {
  assert.equal(withoutQueryParam('a=1&token=x&b=%2F&tok%65n=y&token', 'token'), 'a=1&b=%2F');
  assert.equal(withoutQueryParam('', 'token'), '');
  assert.equal(withoutQueryParam('bad=%E0%A4%A&token=1', 'token'), 'bad=%E0%A4%A');
});

test('a repeated header has no one value: header conditions and {header.x} templates fail on it (only exists holds)', async () => {
  const f = auth({ require: { when: [{ header: 'x-tenant', equals: '{claim.tenant}' }] } }, [A]);
  assert.equal(await run(f, req(['x-a', 'u', 'x-tenant', 't1'])), undefined);
  assert.deepEqual(await run(f, req(['x-a', 'u', 'x-tenant', 't1', 'x-tenant', 'victim'])), { error: 'WICKET_ERR_PERMISSION_DENIED' });
  const tpl = auth({ require: { when: [{ claim: 'tenant', equals: '{header.x-tenant}' }] } }, [A]);
  assert.deepEqual(await run(tpl, req(['x-a', 'u', 'x-tenant', 't1', 'x-tenant', 't1'])), { error: 'WICKET_ERR_PERMISSION_DENIED' });
  const ex = auth({ require: { when: [{ header: 'x-flag', exists: false }] } }, [A]);
  assert.deepEqual(await run(ex, req(['x-a', 'u', 'x-flag', '1', 'x-flag', '2'])), { error: 'WICKET_ERR_PERMISSION_DENIED' });
});

test('HEAD is held to the GET rules of methodRequire unless it has its own', async () => {
  const f = auth({ methodRequire: { GET: { roles: ['reader'] } } }, [A]);
  assert.deepEqual(await run(f, req(['x-a', 'u'], 'HEAD')), { error: 'WICKET_ERR_PERMISSION_DENIED' });
  const own = auth({ methodRequire: { GET: { roles: ['reader'] }, HEAD: { scopes: ['read'] } } }, [A]);
  assert.equal(await run(own, req(['x-a', 'u'], 'HEAD')), undefined);
});
