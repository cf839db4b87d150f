// gRPC-Web through the gateway's HTTP/1.1 (uWS) listener to an
// @grpc/grpc-js server over HTTP/2: the real `grpc-web` npm client (run in
// Node with an XMLHttpRequest shim, test/helpers/grpc-web-client.ts), unary
// in binary and text modes, server streaming in text mode delivered message
// by message, statuses and trailers, the gateway's own errors, and the CORS
// preflight a browser sends.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import net from 'node:net';
import { startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { sleep } from './helpers/wait.js';
import { decodeStringField1, encodeStringField1, grpcWebClient } from './helpers/grpc-web-client.js';

const id = (b: Buffer): Buffer => b;
const method = (name: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
  path: `/wicket.web.Echo/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});
const SERVICE = { Say: method('Say', false), Count: method('Count', true), Refuse: method('Refuse', false) } satisfies grpc.ServiceDefinition;
const STREAM_GAP_MS = 300;

describe('gRPC-Web (uWS listener -> gRPC over HTTP/2, 2 workers)', { timeout: 120_000 }, () => {
  let server: grpc.Server;
  let gw: Gateway;
  /** When the server wrote each streamed message (ms, performance.now()). */
  const sentAt: number[] = [];

  before(async () => {
    server = new grpc.Server();
    server.addService(SERVICE, {
      Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const md = new grpc.Metadata();
        md.set('x-echo', String(call.metadata.get('x-sent')[0] ?? ''));
        call.sendMetadata(md);
        cb(null, Buffer.from(encodeStringField1(`hello, ${decodeStringField1(call.request)}`)));
      },
      Count: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const n = Number(decodeStringField1(call.request));
        let i = 0;
        const next = (): void => {
          if (i === n) return void call.end();
          sentAt.push(performance.now());
          call.write(Buffer.from(encodeStringField1(`n${i++}`)));
          setTimeout(next, STREAM_GAP_MS);
        };
        next();
      },
      Refuse: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        cb({ code: grpc.status.PERMISSION_DENIED, details: 'not you: 100% sure' });
      },
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    gw = await startGateway(
      `upstreams:
  echo: { protocol: h2, targets: [ { url: "http://127.0.0.1:${port}" } ] }
routes:
  - name: web
    match: { path: "/wicket.web.Echo/*" }
    upstream: echo
    grpcWeb: { corsOrigins: ["https://app.example"] }
  - name: nothing
    match: { path: "/wicket.web.Gone/*" }
    upstream: echo
    grpcWeb: {}
`,
      { workers: 2 },
    );
  });

  after(async () => {
    await gw?.stop();
    server?.forceShutdown();
  });

  for (const mode of ['binary', 'text'] as const) {
    test(`unary, ${mode}: message, request metadata in, response metadata out, status OK`, async () => {
      const c = grpcWebClient(gw.url, mode);
      const r = await c.unary('/wicket.web.Echo/Say', encodeStringField1('web'), { metadata: { 'x-sent': 'md-in' } });
      assert.equal(r.status.code, 0, JSON.stringify(r.status));
      assert.equal(decodeStringField1(r.response!), 'hello, web');
      assert.equal(r.headers['x-echo'], 'md-in');
    });

    test(`errors, ${mode}: the server's status and message; no such method -> UNIMPLEMENTED`, async () => {
      const c = grpcWebClient(gw.url, mode);
      const refused = await c.unary('/wicket.web.Echo/Refuse', encodeStringField1('x'));
      assert.equal(refused.status.code, grpc.status.PERMISSION_DENIED);
      assert.equal(refused.status.details, 'not you: 100% sure');
      const missing = await c.unary('/wicket.web.Echo/Missing', encodeStringField1('x'));
      assert.equal(missing.status.code, grpc.status.UNIMPLEMENTED);
    });
  }

  test('server streaming, text: every message, each delivered before the server sends the next', async () => {
    const c = grpcWebClient(gw.url, 'text');
    sentAt.length = 0;
    const got: { text: string; at: number }[] = [];
    const r = await c.serverStream('/wicket.web.Echo/Count', encodeStringField1('4'), (m) => got.push({ text: decodeStringField1(m), at: performance.now() }));
    assert.equal(r.status.code, 0, JSON.stringify(r.status));
    assert.deepEqual(got.map((g) => g.text), ['n0', 'n1', 'n2', 'n3']);
    for (let i = 0; i < 3; i++) assert.ok(got[i]!.at < sentAt[i + 1]!, `message ${i} arrived ${(got[i]!.at - sentAt[i]!).toFixed(0)} ms after it was sent, after message ${i + 1} was sent`);
  });

  test('server streaming, binary: every message (the client reads binary responses whole)', async () => {
    const c = grpcWebClient(gw.url, 'binary');
    const got: string[] = [];
    const r = await c.serverStream('/wicket.web.Echo/Count', encodeStringField1('3'), (m) => got.push(decodeStringField1(m)));
    assert.equal(r.status.code, 0);
    assert.deepEqual(got, ['n0', 'n1', 'n2']);
  });

  test("the gateway's own error as a gRPC-Web status: no route -> UNIMPLEMENTED with the error code", async () => {
    const c = grpcWebClient(gw.url, 'text');
    const r = await c.unary('/wicket.web.Nowhere/Call', encodeStringField1('x'));
    assert.equal(r.status.code, grpc.status.UNIMPLEMENTED);
    assert.match(r.status.details, /WICKET_ERR_ROUTE_NOT_FOUND/);
    const gone = await c.unary('/wicket.web.Gone/Call', encodeStringField1('x'));
    assert.equal(gone.status.code, grpc.status.UNIMPLEMENTED, 'the upstream has no such service');
  });

  test('CORS: the preflight is answered for an allowed origin, refused for another; responses expose grpc-status', async () => {
    const pre = await fetch(`${gw.url}/wicket.web.Echo/Say`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-grpc-web,x-user-agent' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(pre.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.equal(pre.headers.get('access-control-allow-headers'), 'content-type,x-grpc-web,x-user-agent');
    const bad = await fetch(`${gw.url}/wicket.web.Echo/Say`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    assert.equal(bad.status, 403);
    assert.equal(bad.headers.get('access-control-allow-origin'), null);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), Buffer.from(encodeStringField1('cors'))]);
    const r = await fetch(`${gw.url}/wicket.web.Echo/Say`, { method: 'POST', headers: { origin: 'https://app.example', 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' }, body: frame });
    assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(r.headers.get('access-control-expose-headers') ?? '', /grpc-status/);
    await r.arrayBuffer();
  });

  test('text mode: a client that goes away mid-stream (a browser cancel) ends only its call; the workers live', async () => {
    const pids = workerPids(gw);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 4]), Buffer.from(encodeStringField1('50'))]);
    const body = frame.toString('base64');
    for (let i = 0; i < 4; i++) {
      // The streamed call takes 50 x 300 ms; the client leaves after the first message.
      const s = net.connect(gw.port, '127.0.0.1');
      s.on('error', () => {});
      s.write(`POST /wicket.web.Echo/Count HTTP/1.1\r\nHost: a\r\nContent-Type: application/grpc-web-text\r\nX-Grpc-Web: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      await new Promise<void>((resolve) => s.once('data', () => resolve()));
      s.destroy();
    }
    await sleep(500);
    assert.deepEqual(gw.output.filter((l) => l.includes('worker died')), []);
    assert.deepEqual(workerPids(gw), pids);
    const c = grpcWebClient(gw.url, 'text');
    const r = await c.unary('/wicket.web.Echo/Say', encodeStringField1('after'));
    assert.equal(r.status.code, grpc.status.OK);
  });
});
