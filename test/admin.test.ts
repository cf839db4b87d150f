// The admin listener: open /healthz, token-guarded endpoints, a token
// rotated by SIGHUP, and no request-target that can take the supervisor down.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rawExchange } from './helpers/raw.js';
import { startGateway, type Gateway } from './helpers/gateway.js';

const TOKEN_A = 'token-aaaaaaaaaaaaaaaa';
const TOKEN_B = 'token-bbbbbbbbbbbbbbbb';
const ROUTES = `routes:\n  - { name: hello, match: { path: /hello }, respond: { status: 200, body: "hi" } }\n`;
let gw: Gateway;

before(async () => {
  gw = await startGateway(ROUTES, { workers: 1, adminToken: TOKEN_A });
});

after(async () => {
  await gw?.stop();
});

const admin = (path: string, token?: string) =>
  fetch(`http://127.0.0.1:${gw.adminPort}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

test('/healthz is open; /workers needs the token', async () => {
  assert.equal((await admin('/healthz')).status, 200);
  const anon = await admin('/workers');
  assert.equal(anon.status, 401);
  assert.match(anon.headers.get('www-authenticate') ?? '', /^Bearer/);
  assert.equal((await admin('/workers', 'wrong-token-xxxxxxxx')).status, 401);
  const ok = await admin('/workers', TOKEN_A);
  assert.equal(ok.status, 200);
  const body = (await ok.json()) as { workers: { ready: boolean }[] };
  assert.equal(body.workers.length, 1);
  assert.equal(body.workers[0]!.ready, true);
});

test('odd request-targets get an answer and never take the supervisor down', async () => {
  for (const target of ['http://[', '*', '//x', '/%zz', '/healthz?x=%']) {
    const r = await rawExchange(gw.adminPort, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    assert.match(r.text, /^HTTP\/1\.1 \d{3}/, `no answer for ${target}`);
  }
  assert.equal(gw.proc.exitCode, null, 'the supervisor must still run');
  assert.equal((await admin('/healthz')).status, 200);
});

test('SIGHUP rotates the admin token', async () => {
  const { readFileSync, writeFileSync } = await import('node:fs');
  writeFileSync(gw.file, readFileSync(gw.file, 'utf8').replace(TOKEN_A, TOKEN_B));
  gw.signal('SIGHUP');
  await gw.waitFor('config reloaded');
  assert.equal((await admin('/workers', TOKEN_A)).status, 401);
  assert.equal((await admin('/workers', TOKEN_B)).status, 200);
});
