// HTTP/2 upstreams ride the same ProxyCall as HTTP/1.1 ones: a bodiless
// request whose target refuses the connection is retried on another target;
// the refusal is recorded for that target (outlier counts); headers timeouts
// answer 504.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { freePorts, startGateway, type Gateway } from './helpers/gateway.js';

const TOKEN = 'h2-upstream-token-0123456789';
let gw: Gateway;
let good: http2.Http2Server;
let slow: http2.Http2Server;

function h2server(onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void): Promise<http2.Http2Server> {
  const s = http2.createServer();
  s.on('stream', onStream);
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}

before(async () => {
  const [closed] = await freePorts(1);
  good = await h2server((s, h) => {
    s.respond({ ':status': 200, 'content-type': 'text/plain' });
    s.end(`good ${h[':path']}`);
  });
  slow = await h2server(() => {
    // Never answers: the upstream's headers timeout decides.
  });
  const port = (s: http2.Http2Server) => (s.address() as AddressInfo).port;
  gw = await startGateway(
    `upstreams:
  pair:
    protocol: h2
    balancer: round-robin
    outlierDetection: { consecutiveFailures: 100 }
    targets: [{ url: "http://127.0.0.1:${closed}" }, { url: "http://127.0.0.1:${port(good)}" }]
  slow:
    protocol: h2
    headersTimeoutMs: 300
    targets: [{ url: "http://127.0.0.1:${port(slow)}" }]
routes:
  - { name: pair, match: { path: "/pair/*" }, upstream: pair, retry: { attempts: 1, backoffMs: 1 } }
  - { name: slow, match: { path: "/slow/*" }, upstream: slow }
`,
    { workers: 1, adminToken: TOKEN },
  );
});

after(async () => {
  await gw?.stop();
  good?.close();
  slow?.close();
});

test('a refused HTTP/2 target: the bodiless request is retried on the other, and the refusal counted', async () => {
  for (let i = 0; i < 6; i++) {
    const r = await fetch(`${gw.url}/pair/${i}`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), `good /pair/${i}`);
  }
  const view = (await (await fetch(`http://127.0.0.1:${gw.adminPort}/upstreams`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as {
    upstreams: { name: string; targets: { failures: number; requests: number; active: number }[] }[];
  };
  const [refused, ok] = view.upstreams.find((u) => u.name === 'pair')!.targets;
  assert.ok(refused!.failures >= 1, `refusals recorded: ${JSON.stringify(refused)}`);
  assert.equal(ok!.failures, 0);
  assert.equal(refused!.active + ok!.active, 0, 'nothing left in flight');
});

test("an HTTP/2 upstream that never answers: 504 after the upstream's headers timeout", async () => {
  const r = await fetch(`${gw.url}/slow/x`);
  assert.equal(r.status, 504);
  assert.match(await r.text(), /WICKET_ERR_UPSTREAM_TIMEOUT/);
});
