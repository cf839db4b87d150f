// Listener x route kind: every kind of route (static reply, HTTP/1.1 proxy,
// HTTP/2 proxy, gRPC, gRPC-Web, WebSocket proxy, pub/sub, rate limit, CORS,
// request validation, security headers)
// on every listener (uws = listen.http, h2c, tls-h2 and tls-h1 = listen.https
// with ALPN h2 / http/1.1), through one gateway with 2 workers. Each cell is
// one test; a cell that crashes a worker fails itself (and the last test).
//
// Where a listener cannot do what a route needs, the answer is a documented
// error, never a crash: gRPC (not gRPC-Web) on HTTP/1.1 -> 505
// WICKET_ERR_HTTP2_REQUIRED; an Upgrade on the TLS HTTP/1.1 fallback (node
// cannot hand the socket to uWS) -> 501 WICKET_ERR_UPGRADE_UNSUPPORTED; a
// plain request on a pub/sub route -> 426 WICKET_ERR_UPGRADE_REQUIRED; a
// request that does not match the route's OpenAPI document -> 400
// problem+json WICKET_ERR_VALIDATION.
//
// Upstreams: an HTTP/1.1 echo; a plain node:http2 server and, separately, an
// @grpc/grpc-js server (grpc-js answers 415 to anything that is not gRPC, so
// one server cannot be both); a `ws` echo whose HTTP server answers plain GETs.
// On a tree whose config refuses the route `cors` key, the gateway is started
// without that route: the cors cells then fail with the refusal, the others run.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { WebSocket, WebSocketServer } from 'ws';
import { join } from 'node:path';
import { ROOT, startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { LISTENERS, errorCode, selfSigned, send, show, type ListenerName, type Reply } from './helpers/listeners.js';
import { decodeStringField1, encodeStringField1 } from './helpers/grpc-web-client.js';
import { TOKEN, publishOk, subscribe } from './helpers/pubsub.js';
import { sleep, until } from './helpers/wait.js';

const id = (b: Buffer): Buffer => b;
const unaryMethod = (path: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path,
  requestStream: false,
  responseStream: false,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const GRPC_SERVICE = { Unary: unaryMethod('/wicket.matrix.Echo/Unary') } satisfies grpc.ServiceDefinition;
const WEB_SERVICE = { Say: unaryMethod('/wicket.matrix.Web/Say') } satisfies grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(GRPC_SERVICE, 'Echo');

const CORS = '{ allowOrigins: ["https://app.example"], allowMethods: [GET, POST, PUT], allowHeaders: [content-type, x-token], exposeHeaders: [x-upstream], allowCredentials: true, maxAgeSeconds: 600 }';

/** The introspection endpoint the auth cells use (set in before()). */
let idpUrl = '';
const MATRIX_TOKEN = 'matrix-token-3f9a';
const IDP_SECRET = 'matrix-idp-secret-81c2';

function routes(h1: number, h2: number, grpcPort: number, wsPort: number, withCors: boolean): string {
  return `upstreams:
  h1: { targets: [ { url: "http://127.0.0.1:${h1}" } ] }
  h2: { protocol: h2, targets: [ { url: "http://127.0.0.1:${h2}" } ] }
  grpc: { protocol: h2, targets: [ { url: "http://127.0.0.1:${grpcPort}" } ] }
  ws: { targets: [ { url: "http://127.0.0.1:${wsPort}" } ] }
auth:
  introspection:
    endpoints:
      idp: { url: "${idpUrl}", clientId: matrix, clientSecretEnv: WICKET_MATRIX_IDP_SECRET }
routes:
  - name: reply
    match: { path: /reply }
    respond: { status: 200, headers: { content-type: text/plain }, body: "static reply" }
  - name: proxy-h1
    match: { path: "/proxy-h1/*" }
    upstream: h1
  - name: proxy-h2
    match: { path: "/proxy-h2/*" }
    upstream: h2
  - name: grpc
    match: { path: "/wicket.matrix.Echo/*" }
    upstream: grpc
  - name: grpc-web
    match: { path: "/wicket.matrix.Web/*" }
    upstream: grpc
    grpcWeb: { corsOrigins: ["*"] }
  - name: websocket
    match: { path: "/ws/*" }
    upstream: ws
    websocket: {}
  - name: pubsub
    match: { path: "/live/:topic" }
    pubsub: { topics: "param:topic" }
  - name: validated
    match: { path: "/validated/*" }
    upstream: h1
    validate: { openapi: "${join(ROOT, 'test/fixtures/petstore-3.1.yaml')}", pathPrefix: /validated }
    securityHeaders: { preset: strict }
  - name: rate-limited
    match: { path: "/limited/*" }
    upstream: h1
    rateLimit: { limits: [ { name: cell, algorithm: gcra, limit: 2, windowMs: 60000, key: [ "header:x-cell" ] } ] }
  - name: authed
    match: { path: "/authed/*" }
    upstream: h1
    auth: { methods: [ { introspection: { endpoint: idp } } ], upstreamHeaders: { x-consumer: consumer } }
  - name: ip-denied
    match: { path: "/ipdeny/*" }
    upstream: h1
    ipAccess: { deny: [ "127.0.0.0/8", "::1" ] }
  - name: ip-allowed
    match: { path: "/ipallow/*" }
    upstream: h1
    ipAccess: { allow: [ "127.0.0.0/8", "::1" ], deny: [ "10.0.0.0/8" ] }
${withCors ? `  - name: cors
    match: { path: "/cors/*" }
    upstream: h1
    cors: ${CORS}
` : ''}`;
}

/** A gRPC-Web binary request frame: flag 0, length, message. */
function grpcWebFrame(msg: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, Buffer.from(msg)]);
}

/** Splits a gRPC-Web response body into its message frames and its trailers (flag 0x80). */
function grpcWebFrames(body: Buffer): { messages: Buffer[]; trailers: Record<string, string> | null; rest: number } {
  const messages: Buffer[] = [];
  let trailers: Record<string, string> | null = null;
  let at = 0;
  while (at + 5 <= body.length) {
    const flag = body[at]!;
    const len = body.readUInt32BE(at + 1);
    if (at + 5 + len > body.length) break;
    const payload = body.subarray(at + 5, at + 5 + len);
    if (flag & 0x80) {
      trailers = {};
      for (const line of payload.toString('latin1').split('\r\n')) {
        const c = line.indexOf(':');
        if (c > 0) trailers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
      }
    } else messages.push(payload);
    at += 5 + len;
  }
  return { messages, trailers, rest: body.length - at };
}

describe('listener x route kind (2 workers, h2c + TLS)', { timeout: 240_000 }, () => {
  let gw: Gateway;
  let h1: Upstream;
  let h2: http2.Http2Server;
  let grpcServer: grpc.Server;
  let wsHttp: http.Server;
  let wss: WebSocketServer;
  let tlsFiles: { cert: string; key: string };
  let pidsBefore: number[] = [];
  let closeIdp: () => Promise<void> = async () => {};
  /** Why the config with the cors route was refused (the cors cells then fail with it); null when accepted. */
  let corsRefused: string | null = null;
  const run = Date.now().toString(36);

  before(async () => {
    tlsFiles = selfSigned();
    h1 = await startUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.stringify({ from: 'h1', method: req.method, url: req.url, headers: req.headers, bytes: Buffer.concat(chunks).length });
        res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'h1' });
        res.end(body);
      });
    });
    h2 = http2.createServer();
    h2.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-upstream': 'h2' });
      stream.end(`h2 upstream ${headers[':method']} ${headers[':path']}`);
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));

    grpcServer = new grpc.Server();
    grpcServer.addService(GRPC_SERVICE, {
      Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request])),
    });
    grpcServer.addService(WEB_SERVICE, {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(encodeStringField1(`hello, ${decodeStringField1(call.request)}`))),
    });
    const grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));

    // The WebSocket upstream: echo over WebSocket, and a plain answer to plain requests.
    wsHttp = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`plain ws-upstream ${req.url}`);
    });
    wss = new WebSocketServer({ noServer: true });
    wsHttp.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req)));
    wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
    await new Promise<void>((r) => wsHttp.listen(0, '127.0.0.1', r));

    const idp = await startUpstream((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const active = new URLSearchParams(body).get('token') === MATRIX_TOKEN && req.headers.authorization === `Basic ${Buffer.from(`matrix:${IDP_SECRET}`).toString('base64')}`;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(active ? { active: true, sub: 'matrix-user' } : { active: false }));
      });
    });
    idpUrl = `${idp.url}/introspect`;
    closeIdp = () => idp.close();
    const ports = [h1.port, (h2.address() as AddressInfo).port, grpcPort, (wsHttp.address() as AddressInfo).port] as const;
    const opts = { workers: 2, h2c: true, https: tlsFiles, adminToken: TOKEN, env: { WICKET_MATRIX_IDP_SECRET: IDP_SECRET } };
    try {
      gw = await startGateway(routes(...ports, true), opts);
    } catch (e) {
      // The tree does not know the cors filter yet: run every other cell; the cors cells fail with this.
      corsRefused = (e as Error).message.split('\n').filter((l) => /cors/i.test(l)).slice(0, 3).join('\n') || (e as Error).message.slice(0, 500);
      gw = await startGateway(routes(...ports, false), opts);
    }
    pidsBefore = workerPids(gw);
    assert.equal(pidsBefore.length, 2);
  });

  after(async () => {
    await gw?.stop();
    await h1?.close();
    await closeIdp();
    h2?.close();
    grpcServer?.forceShutdown();
    for (const c of wss?.clients ?? []) c.terminate();
    wsHttp?.closeAllConnections();
    wsHttp?.close();
  });

  const died = (): string[] => gw.output.filter((l) => /worker died|worker exited/i.test(l));

  /** After a worker died in an earlier cell: wait (bounded) until both workers serve again, so cells stay independent. */
  const healthy = async (): Promise<void> => {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`http://127.0.0.1:${gw.adminPort}/healthz`);
        if (r.status === 200 && workerPids(gw).length === 2) return;
      } catch {
        // supervisor busy
      }
      await sleep(100);
    }
  };

  /** Runs one cell; fails it as well when a worker died during it. */
  const cell = (kind: string, l: ListenerName, fn: () => Promise<void>): void => {
    test(`${kind} on ${l}`, async () => {
      if (died().length > 0) await healthy();
      const mark = died().length;
      try {
        await fn();
      } finally {
        await sleep(150); // a worker's death is logged by the supervisor a moment after the connection drops
        const now = died().slice(mark);
        if (now.length > 0) assert.fail(`a worker died during this cell:\n${now.join('\n')}`);
      }
    });
  };

  const ok = (r: Reply, what: string): void => assert.equal(r.status, 200, `${what}: ${show(r)}`);
  const gwError = (r: Reply, status: number, code: string, what: string): void => {
    assert.equal(r.status, status, `${what}: ${show(r)}`);
    assert.equal(errorCode(r), code, `${what}: ${show(r)}`);
    assert.match(r.headers['content-type'] ?? '', /application\/json/, what);
  };

  // --- reply, proxy-h1, proxy-h2 ------------------------------------------

  for (const l of LISTENERS) {
    cell('reply', l, async () => {
      const r = await send(gw, l, { path: '/reply' });
      ok(r, 'static reply');
      assert.equal(r.body.toString(), 'static reply');
    });
  }
  for (const l of LISTENERS) {
    cell('proxy-h1', l, async () => {
      const r = await send(gw, l, { path: `/proxy-h1/${l}?q=1` });
      ok(r, 'proxied to HTTP/1.1');
      const j = JSON.parse(r.body.toString()) as { from: string; method: string; url: string };
      assert.deepEqual([j.from, j.method, j.url], ['h1', 'GET', `/proxy-h1/${l}?q=1`]);
      assert.equal(r.headers['x-upstream'], 'h1');
    });
  }
  for (const l of LISTENERS) {
    cell('proxy-h2', l, async () => {
      const r = await send(gw, l, { path: `/proxy-h2/${l}` });
      ok(r, 'proxied to HTTP/2');
      assert.equal(r.body.toString(), `h2 upstream GET /proxy-h2/${l}`);
      assert.equal(r.headers['x-upstream'], 'h2');
    });
  }

  // --- grpc ----------------------------------------------------------------

  for (const l of ['h2c', 'tls-h2'] as const) {
    cell('grpc', l, async () => {
      const target = `127.0.0.1:${l === 'h2c' ? gw.h2cPort : gw.httpsPort}`;
      const creds = l === 'h2c' ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(readFileSync(tlsFiles.cert));
      const client = new EchoClient(target, creds) as unknown as grpc.Client & { Unary: (r: Buffer, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void };
      try {
        const r = await new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((resolve) =>
          client.Unary(Buffer.from(`via ${l}`), new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err, res) => resolve({ err, res })),
        );
        assert.equal(r.err, null, `grpc call failed: ${r.err?.code} ${r.err?.details}`);
        assert.equal(r.res!.toString(), `echo:via ${l}`);
      } finally {
        client.close();
      }
    });
  }
  for (const l of ['uws', 'tls-h1'] as const) {
    cell('grpc', l, async () => {
      const r = await send(gw, l, { method: 'POST', path: '/wicket.matrix.Echo/Unary', headers: [['content-type', 'application/grpc'], ['te', 'trailers']], body: Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]) });
      gwError(r, 505, 'WICKET_ERR_HTTP2_REQUIRED', 'application/grpc over HTTP/1.1');
    });
  }

  // --- grpc-web --------------------------------------------------------------

  for (const l of LISTENERS) {
    cell('grpc-web', l, async () => {
      const r = await send(gw, l, {
        method: 'POST',
        path: '/wicket.matrix.Web/Say',
        headers: [['content-type', 'application/grpc-web+proto'], ['x-grpc-web', '1'], ['origin', 'https://somewhere.example']],
        body: grpcWebFrame(encodeStringField1(l)),
      });
      ok(r, 'gRPC-Web call');
      assert.match(r.headers['content-type'] ?? '', /^application\/grpc-web(\+proto)?$/, show(r));
      const f = grpcWebFrames(r.body);
      assert.equal(f.messages.length, 1, `one message frame: ${show(r)}`);
      assert.equal(decodeStringField1(f.messages[0]!), `hello, ${l}`);
      assert.ok(f.trailers !== null, `a trailers frame: ${show(r)}`);
      assert.equal(f.trailers['grpc-status'], '0', JSON.stringify(f.trailers));
      assert.equal(f.rest, 0, 'nothing after the trailers frame');
    });
  }
  for (const l of LISTENERS) {
    cell('grpc-web CORS preflight', l, async () => {
      const pre = await send(gw, l, {
        method: 'OPTIONS',
        path: '/wicket.matrix.Web/Say',
        headers: [['origin', 'https://somewhere.example'], ['access-control-request-method', 'POST'], ['access-control-request-headers', 'content-type,x-grpc-web']],
      });
      assert.equal(pre.status, 204, `preflight: ${show(pre)}`);
      assert.ok(pre.headers['access-control-allow-origin'] !== undefined, `preflight allow-origin: ${show(pre)}`);
    });
  }

  // --- websocket ---------------------------------------------------------------

  cell('websocket', 'uws', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.port}/ws/echo`, { perMessageDeflate: false, handshakeTimeout: 5000 });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const back = new Promise<string>((resolve, reject) => {
        ws.once('message', (d) => resolve(String(d)));
        setTimeout(() => reject(new Error('no echo in 5 s')), 5000).unref();
      });
      ws.send('ping through the gateway');
      assert.equal(await back, 'ping through the gateway');
    } finally {
      ws.terminate();
    }
  });
  for (const l of ['h2c', 'tls-h2'] as const) {
    cell('websocket', l, async () => {
      const r = await send(gw, l, { path: `/ws/plain-${l}` });
      ok(r, 'a plain GET on a websocket route is proxied');
      assert.equal(r.body.toString(), `plain ws-upstream /ws/plain-${l}`);
    });
  }
  cell('websocket', 'tls-h1', async () => {
    const up = await send(gw, 'tls-h1', {
      path: '/ws/echo',
      headers: [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']],
    });
    gwError(up, 501, 'WICKET_ERR_UPGRADE_UNSUPPORTED', 'an Upgrade on the TLS HTTP/1.1 fallback');
    const r = await send(gw, 'tls-h1', { path: '/ws/plain-tls-h1' });
    ok(r, 'a plain GET on a websocket route is proxied');
    assert.equal(r.body.toString(), 'plain ws-upstream /ws/plain-tls-h1');
  });

  // --- rate-limited ----------------------------------------------------------

  for (const l of LISTENERS) {
    cell('rate-limited', l, async () => {
      const statuses: number[] = [];
      let last: Reply | null = null;
      for (let i = 0; i < 3; i++) {
        last = await send(gw, l, { path: `/limited/${l}/${i}`, headers: [['x-cell', `${run}-${l}`]] });
        statuses.push(last.status);
      }
      assert.deepEqual(statuses, [200, 200, 429], show(last!));
      assert.equal(errorCode(last!), 'WICKET_ERR_RATE_LIMITED');
    });
  }

  // --- auth (the introspection method: its endpoint is a loopback server) ---

  for (const l of LISTENERS) {
    cell('auth', l, async () => {
      const seen = h1.seen.length;
      const none = await send(gw, l, { path: `/authed/none-${l}` });
      gwError(none, 401, 'WICKET_ERR_UNAUTHENTICATED', 'no credential');
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="authed"');
      gwError(await send(gw, l, { path: `/authed/bad-${l}`, headers: [['authorization', 'Bearer nope']] }), 401, 'WICKET_ERR_UNAUTHENTICATED', 'a bad token');
      assert.equal(h1.seen.length, seen, 'refused requests never reach the upstream');
      const r = await send(gw, l, { path: `/authed/ok-${l}`, headers: [['authorization', `Bearer ${MATRIX_TOKEN}`], ['x-consumer', 'spoof']] });
      ok(r, 'a good token');
      assert.equal(JSON.parse(r.body.toString()).headers['x-consumer'], 'matrix-user');
    });
  }

  // --- ipAccess --------------------------------------------------------------

  for (const l of LISTENERS) {
    cell('ipAccess', l, async () => {
      const seen = h1.seen.length;
      gwError(await send(gw, l, { path: `/ipdeny/${l}` }), 403, 'WICKET_ERR_IP_FORBIDDEN', 'a denied client');
      assert.equal(h1.seen.length, seen, 'a denied request never reaches the upstream');
      // A spoofed X-Forwarded-For from an untrusted peer changes nothing.
      const r = await send(gw, l, { path: `/ipallow/${l}`, headers: [['x-forwarded-for', '10.9.9.9']] });
      ok(r, 'an allowed client');
      assert.equal(JSON.parse(r.body.toString()).url, `/ipallow/${l}`);
    });
  }

  // --- validate + securityHeaders ---------------------------------------------

  for (const l of LISTENERS) {
    cell('validate + securityHeaders', l, async () => {
      const body = '{"pet":{"name":"Rex"}}';
      const seenBefore = h1.seen.length;
      const good = await send(gw, l, { method: 'POST', path: `/validated/pets?l=${l}`, headers: [['content-type', 'application/json'], ['x-tenant', 'acme']], body });
      ok(good, 'a request that matches the document');
      assert.equal((JSON.parse(good.body.toString()) as { bytes: number }).bytes, body.length, 'the body reached the upstream whole');
      assert.equal(good.headers['x-frame-options'], 'DENY', show(good));
      assert.equal(good.headers['strict-transport-security'], l.startsWith('tls') ? 'max-age=31536000; includeSubDomains' : undefined, show(good));
      const bad = await send(gw, l, { method: 'POST', path: '/validated/pets', headers: [['content-type', 'application/json'], ['x-tenant', 'acme']], body: '{"pet":{"name":7}}' });
      assert.equal(bad.status, 400, show(bad));
      assert.equal(bad.headers['content-type'], 'application/problem+json', show(bad));
      const p = JSON.parse(bad.body.toString()) as { code: string; errors: { in: string; pointer: string }[] };
      assert.equal(p.code, 'WICKET_ERR_VALIDATION');
      assert.deepEqual(p.errors.map((e) => [e.in, e.pointer]), [['body', '/pet/name']]);
      assert.equal(bad.headers['x-content-type-options'], 'nosniff', 'the gateway\'s own answer carries the security headers');
      await sleep(50);
      assert.deepEqual(h1.seen.slice(seenBefore).map((s) => s.url), [`/validated/pets?l=${l}`], 'only the valid request reached the upstream');
    });
  }

  // --- cors ------------------------------------------------------------------

  test('the config with a route `cors` filter is accepted', () => {
    assert.equal(corsRefused, null, `config refused: ${corsRefused}`);
  });

  for (const l of LISTENERS) {
    cell('cors', l, async () => {
      assert.equal(corsRefused, null, `the gateway refused the cors route config: ${corsRefused}`);
      const seenBefore = h1.seen.length;
      const prePath = `/cors/preflight-${l}`;
      const pre = await send(gw, l, {
        method: 'OPTIONS',
        path: prePath,
        headers: [['origin', 'https://app.example'], ['access-control-request-method', 'PUT'], ['access-control-request-headers', 'x-token']],
      });
      assert.equal(pre.status, 204, `preflight: ${show(pre)}`);
      assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example', show(pre));
      assert.match(pre.headers['access-control-allow-methods'] ?? '', /\bPUT\b/, show(pre));
      assert.match(pre.headers['access-control-allow-headers'] ?? '', /\bx-token\b/i, show(pre));
      assert.equal(pre.headers['access-control-allow-credentials'], 'true', show(pre));
      assert.equal(pre.headers['access-control-max-age'], '600', show(pre));
      assert.match(pre.headers.vary ?? '', /\borigin\b/i, show(pre));
      await sleep(50);
      assert.deepEqual(h1.seen.slice(seenBefore).filter((s) => s.url === prePath).map((s) => s.method), [], 'the preflight reached the upstream');

      const get = await send(gw, l, { path: `/cors/get-${l}`, headers: [['origin', 'https://app.example']] });
      ok(get, 'GET with an allowed Origin');
      assert.equal(get.headers['access-control-allow-origin'], 'https://app.example', show(get));
      assert.match(get.headers['access-control-expose-headers'] ?? '', /\bx-upstream\b/i, show(get));
      assert.match(get.headers.vary ?? '', /\borigin\b/i, show(get));

      const evilPre = await send(gw, l, { method: 'OPTIONS', path: `/cors/evil-pre-${l}`, headers: [['origin', 'https://evil.example'], ['access-control-request-method', 'PUT']] });
      gwError(evilPre, 403, 'WICKET_ERR_CORS_REJECTED', 'preflight from another origin');

      const evilGet = await send(gw, l, { path: `/cors/evil-get-${l}`, headers: [['origin', 'https://evil.example']] });
      ok(evilGet, 'GET from another origin (the browser enforces, the gateway serves)');
      assert.equal(evilGet.headers['access-control-allow-origin'], undefined, show(evilGet));
    });
  }

  // --- pubsub (last: on the current tree an HTTP/2 request here kills a worker) ---

  cell('pubsub', 'uws', async () => {
    const topic = `m${run}`;
    const sub = await subscribe(gw.port, `/live/${topic}`);
    try {
      await publishOk(gw.adminPort, topic, 'published through the admin API');
      assert.ok(await until(() => sub.got.length >= 1, 5000), 'the subscriber got the message');
      assert.equal(sub.texts()[0], 'published through the admin API');
    } finally {
      sub.ws.terminate();
    }
    const plain = await send(gw, 'uws', { path: `/live/${topic}` });
    gwError(plain, 426, 'WICKET_ERR_UPGRADE_REQUIRED', 'a plain GET on a pubsub route');
  });
  for (const l of ['h2c', 'tls-h2', 'tls-h1'] as const) {
    cell('pubsub', l, async () => {
      const plain = await send(gw, l, { path: '/live/a' });
      gwError(plain, 426, 'WICKET_ERR_UPGRADE_REQUIRED', 'a plain GET on a pubsub route');
      if (l === 'tls-h1') {
        const up = await send(gw, l, {
          path: '/live/a',
          headers: [['Connection', 'Upgrade'], ['Upgrade', 'websocket'], ['Sec-WebSocket-Version', '13'], ['Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ==']],
        });
        gwError(up, 501, 'WICKET_ERR_UPGRADE_UNSUPPORTED', 'an Upgrade on the TLS HTTP/1.1 fallback');
      }
    });
  }

  test('no worker died: the same worker pids before and after, no worker death in the output', async () => {
    await sleep(200);
    assert.deepEqual(died(), [], 'worker deaths logged');
    assert.deepEqual(workerPids(gw), pidsBefore);
    // Still serving on every listener.
    for (const l of LISTENERS) assert.equal((await send(gw, l, { path: '/reply' })).status, 200, l);
  });
});
