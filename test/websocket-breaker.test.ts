// The WebSocket tunnel takes the same upstream call path as every proxied
// request: an upstream whose handshakes fail opens its circuit, and then
// upgrades get 503 WICKET_ERR_CIRCUIT_OPEN without a connection attempt;
// failed handshakes count in outlier detection (GET /upstreams).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { WebSocket } from 'ws';
import { freePorts, startGateway, type Gateway } from './helpers/gateway.js';

const TOKEN = 'ws-breaker-token-0123456789';
let gw: Gateway;
let closedPort: number;
let attempts = 0;
let refuser: net.Server;

before(async () => {
  [closedPort] = await freePorts(1);
  // Accepts and at once resets: every handshake fails, and each attempt is counted.
  refuser = net.createServer((s) => {
    attempts++;
    s.destroy();
  });
  await new Promise<void>((r) => refuser.listen(closedPort, '127.0.0.1', r));
  gw = await startGateway(
    `upstreams:
  flaky:
    circuitBreaker: { consecutiveFailures: 2, openMs: 60000 }
    outlierDetection: { consecutiveFailures: 100 }
    targets: [{ url: "http://127.0.0.1:${closedPort}" }]
  fine:
    targets: [{ url: "http://127.0.0.1:${closedPort}" }]
routes:
  - { name: ws, match: { path: "/ws/*" }, upstream: flaky, websocket: {} }
  - { name: fine, match: { path: "/fine/*" }, upstream: fine, websocket: {} }
`,
    { workers: 1, adminToken: TOKEN },
  );
});

after(async () => {
  await gw?.stop();
  await new Promise((r) => refuser?.close(r));
});

function upgrade(): Promise<{ status: number; code: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws/x`);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: /"code":"([A-Z_]+)"/.exec(body)?.[1] ?? '' }));
    });
    ws.once('open', () => reject(new Error('opened')));
    ws.once('error', () => {});
  });
}

test('failed handshakes open the circuit; then upgrades are refused without touching the upstream', async () => {
  const first = await upgrade();
  const second = await upgrade();
  assert.equal(first.status, 502, JSON.stringify(first));
  assert.equal(second.status, 502, JSON.stringify(second));
  const before = attempts;
  const third = await upgrade();
  assert.deepEqual(third, { status: 503, code: 'WICKET_ERR_CIRCUIT_OPEN' });
  assert.equal(attempts, before, 'no connection attempt while the circuit is open');
  const r = await fetch(`http://127.0.0.1:${gw.adminPort}/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const view = (await r.json()) as { upstreams: { name: string; circuit: { state: string }; targets: { failures: number; active: number }[] }[] };
  const u = view.upstreams.find((x) => x.name === 'flaky')!;
  assert.equal(u.circuit.state, 'open');
  assert.equal(u.targets[0]!.failures, 2, 'both failed handshakes recorded');
  assert.equal(u.targets[0]!.active, 0, 'nothing left in flight');
});

test('an upgrade the WebSocket client library refuses (a repeated subprotocol): 400, and nothing stays counted', async () => {
  const r = await new Promise<string>((resolve, reject) => {
    const s = net.connect(gw.port, '127.0.0.1', () =>
      s.write('GET /fine/x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: a, a\r\n\r\n'),
    );
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes('\r\n\r\n')) s.end();
    });
    s.on('close', () => resolve(text));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy());
  });
  assert.match(r, /^HTTP\/1\.1 400 /, r.slice(0, 200));
  const view = (await (await fetch(`http://127.0.0.1:${gw.adminPort}/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { upstreams: { name: string; targets: { active: number }[] }[] };
  assert.equal(view.upstreams.find((u) => u.name === 'fine')!.targets[0]!.active, 0, 'the in-flight count was given back');
});
