// OIDC browser login end to end against oidc-provider (a certified OpenID
// provider) on loopback, driven by an HTTP client that follows redirects,
// keeps cookies and submits the provider's login and consent forms: PKCE,
// state and nonce, the encrypted session cookie, refresh before the access
// token ends, logout, and what a forged or tampered request gets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import Provider from 'oidc-provider';
import { Agent, request } from 'undici';
import { freePorts, startGateway, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep } from './helpers/wait.js';

const CLIENT_SECRET = 'oidc-client-secret-5b7e21';
const COOKIE_KEY = 'oidc-cookie-key-0123456789abcdef0123456789';

/** A minimal browser: one cookie jar for 127.0.0.1 (cookies ignore ports), redirects followed by hand. */
class Browser {
  readonly jar = new Map<string, string>();

  async go(method: string, url: string, form?: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; url: string }> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const headers: Record<string, string> = { accept: 'text/html' };
    if (cookie !== '') headers.cookie = cookie;
    if (form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    // A connection per request: SO_REUSEPORT spreads them over both workers.
    const dispatcher = new Agent();
    const r = await request(url, { method: method as 'GET', headers, body: form === undefined ? undefined : new URLSearchParams(form).toString(), dispatcher });
    const set = r.headers['set-cookie'];
    for (const c of Array.isArray(set) ? set : set === undefined ? [] : [set]) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      if (expired) this.jar.delete(name);
      else this.jar.set(name, pair!.slice(eq + 1).trim());
    }
    const body = await r.body.text();
    await dispatcher.close();
    return { status: r.statusCode, headers: r.headers, body, url };
  }

  /** Follows redirects and fills the provider's forms (login as `user`, then consent) until an answer that is neither. */
  async login(start: string, user: string): Promise<{ status: number; body: string; hops: string[]; url: string }> {
    const hops: string[] = [];
    let res = await this.go('GET', start);
    for (let i = 0; i < 30; i++) {
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(String(res.headers.location), res.url).toString();
        hops.push(next);
        res = await this.go('GET', next);
        continue;
      }
      const form = /<form[^>]*action="([^"]+)"/.exec(res.body);
      if (res.status === 200 && form !== null) {
        const fields: Record<string, string> = {};
        for (const m of res.body.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[m[1]!] = m[2]!;
        if (fields.prompt === 'login') Object.assign(fields, { login: user, password: 'any' });
        const action = new URL(form[1]!.replace(/&amp;/g, '&'), res.url).toString();
        hops.push(`POST ${action}`);
        res = await this.go('POST', action, fields);
        continue;
      }
      return { status: res.status, body: res.body, hops, url: res.url };
    }
    throw new Error(`too many hops: ${hops.join(' -> ')}`);
  }
}

describe('OIDC login (authorization code + PKCE) against oidc-provider', { timeout: 90_000 }, () => {
  let gw: Gateway;
  let up: Upstream;
  let op: http.Server;
  let issuer = '';
  const grants: string[] = [];

  before(async () => {
    const [opPort] = await freePorts(1);
    issuer = `http://127.0.0.1:${opPort}`;
    up = await startUpstream();
    gw = await startGateway(
      `upstreams:
  app: { targets: [ { url: "${up.url}" } ] }
auth:
  oidc:
    providers:
      op:
        issuer: "${issuer}"
        clientId: wicket
        clientSecretEnv: WICKET_TEST_OIDC_SECRET
        cookieSecretEnv: WICKET_TEST_OIDC_COOKIE_KEY
        scopes: [ openid, email ]
        refreshBeforeSeconds: 3
routes:
  - name: app
    match: { path: "/app/*" }
    upstream: app
    auth:
      methods: [ { oidc: { provider: op, callbackPath: /app/callback, logoutPath: /app/logout, postLogoutPath: /app/bye } } ]
      upstreamHeaders: { x-user: consumer, x-email: "claim:email" }
`,
      { workers: 2, env: { WICKET_TEST_OIDC_SECRET: CLIENT_SECRET, WICKET_TEST_OIDC_COOKIE_KEY: COOKIE_KEY } },
    );
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'wicket',
          client_secret: CLIENT_SECRET,
          redirect_uris: [`http://127.0.0.1:${gw.port}/app/callback`],
          post_logout_redirect_uris: [`http://127.0.0.1:${gw.port}/app/bye`],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
        },
      ],
      claims: { openid: ['sub'], email: ['email'] },
      conformIdTokenClaims: false,
      findAccount: (_ctx: unknown, id: string) => ({ accountId: id, claims: () => ({ sub: id, email: `${id}@example.test` }) }),
      issueRefreshToken: () => true,
      ttl: { AccessToken: 4, IdToken: 3600, RefreshToken: 3600, Grant: 3600, Session: 3600, Interaction: 600 },
      features: { rpInitiatedLogout: { enabled: true, logoutSource: (ctx: { body: string }, form: string) => void (ctx.body = `<html><body>${form}</body></html>`) } },
    });
    provider.on('grant.success', (ctx: { oidc: { params?: { grant_type?: string } } }) => grants.push(String(ctx.oidc.params?.grant_type)));
    op = provider.listen(opPort, '127.0.0.1');
    await new Promise<void>((r) => op.once('listening', () => r()));
  });

  after(async () => {
    await gw?.stop();
    await up?.close();
    op?.closeAllConnections();
    op?.close();
  });

  const b = new Browser();
  /** Codes and session cookies seen in the tests: none may reach the logs. */
  const credentials: string[] = [];

  test('a browser without a session is sent to the provider with PKCE S256, state and nonce; after login it lands where it started', async () => {
    const first = await b.go('GET', `${gw.url}/app/page?x=1`);
    assert.equal(first.status, 302);
    const auth = new URL(String(first.headers.location));
    assert.equal(auth.origin, issuer);
    for (const p of ['state', 'nonce', 'code_challenge']) assert.ok((auth.searchParams.get(p) ?? '').length >= 43, p);
    assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(auth.searchParams.get('redirect_uri'), `${gw.url}/app/callback`);
    b.jar.clear();

    const r = await b.login(`${gw.url}/app/page?x=1`, 'alice');
    assert.equal(r.status, 200, `${r.hops.join('\n')}\n${r.body}`);
    const cb = r.hops.find((h) => h.startsWith(`${gw.url}/app/callback?`));
    assert.ok(cb !== undefined, 'the provider sent the browser back to the callback');
    credentials.push(new URL(cb).searchParams.get('code')!);
    const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/app/page?x=1');
    assert.equal(seen.headers['x-user'], 'alice');
    assert.equal(seen.headers['x-email'], 'alice@example.test');
    assert.ok(!String(seen.headers.cookie ?? '').includes('wicket_session'), 'the session cookie stays with the gateway');
    assert.ok(b.jar.has('wicket_session'));
    credentials.push(b.jar.get('wicket_session')!);
    assert.ok(!b.jar.has('wicket_session_tx'), 'the login transaction cookie is cleared');
    assert.deepEqual(grants, ['authorization_code']);
  });

  test('the session works on every worker (fresh connections), and is refreshed before the access token ends', async () => {
    for (let i = 0; i < 6; i++) assert.equal((await b.go('GET', `${gw.url}/app/again-${i}`)).status, 200);
    const before = b.jar.get('wicket_session');
    await sleep(1500); // the access token (4 s) now ends within refreshBeforeSeconds (3)
    const r = await b.go('GET', `${gw.url}/app/after-refresh`);
    assert.equal(r.status, 200);
    assert.equal(grants.filter((g) => g === 'refresh_token').length, 1, `grants: ${grants.join(', ')}`);
    assert.notEqual(b.jar.get('wicket_session'), before, 'a new session cookie came with the answer');
    assert.equal((await b.go('GET', `${gw.url}/app/with-new-cookie`)).status, 200);
  });

  test('a tampered session is no session: GET goes to login, POST gets 401; a forged callback gets 401', async () => {
    const evil = new Browser();
    const good = b.jar.get('wicket_session')!;
    evil.jar.set('wicket_session', `${good.slice(0, -4)}AAAA`);
    assert.equal((await evil.go('GET', `${gw.url}/app/x`)).status, 302);
    const post = await evil.go('POST', `${gw.url}/app/x`, { a: '1' });
    assert.equal(post.status, 401);
    assert.equal(JSON.parse(post.body).error.code, 'WICKET_ERR_UNAUTHENTICATED');
    const forged = await new Browser().go('GET', `${gw.url}/app/callback?code=abc&state=xyz`);
    assert.equal(forged.status, 401);
  });

  test('logout clears the session and ends it at the provider', async () => {
    const out = await b.go('GET', `${gw.url}/app/logout`);
    assert.equal(out.status, 302);
    const loc = new URL(String(out.headers.location));
    assert.equal(loc.origin, issuer);
    assert.ok(loc.searchParams.get('id_token_hint'));
    assert.equal(loc.searchParams.get('post_logout_redirect_uri'), `${gw.url}/app/bye`);
    assert.ok(!b.jar.has('wicket_session'));
    assert.equal((await b.go('GET', `${gw.url}/app/page`)).status, 302, 'no session: back to login');
  });

  test('no secret, cookie key, code or token in the gateway logs; no worker died', () => {
    const log = gw.output.join('\n');
    for (const s of [CLIENT_SECRET, COOKIE_KEY, ...credentials]) assert.ok(!log.includes(s), `"${s}" in the gateway output`);
    assert.ok(!/worker died/.test(log));
  });
});
