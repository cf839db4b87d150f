// gRPC through the gateway's h2c listener to an @grpc/grpc-js server over an
// HTTP/2 upstream: the four call kinds, metadata and trailers, trailers-only
// errors (UNIMPLEMENTED, a custom status + message), a deadline that passes,
// client cancellation reaching the server, and the gateway's own errors as
// gRPC statuses. Messages are raw bytes (identity serializers): no .proto
// files are needed to prove the proxy forwards frames, headers and trailers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { sleep, until } from './helpers/wait.js';

const id = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
  path: `/wicket.test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
});

const SERVICE = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
  Fail: method('Fail', false, false),
  Slow: method('Slow', false, false),
  Hang: method('Hang', false, true),
} satisfies grpc.ServiceDefinition;

/** What is served: everything but `Missing` (which the client calls to get UNIMPLEMENTED from the server). */
const Client = grpc.makeGenericClientConstructor({ ...SERVICE, Missing: method('Missing', false, false) }, 'Echo');
type EchoClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

describe('gRPC proxy (h2c listener, HTTP/2 upstream, 2 workers)', { timeout: 120_000 }, () => {
  let server: grpc.Server;
  let gw: Gateway;
  let client: EchoClient;
  let upPort = 0;
  const cancelled: string[] = [];
  /** Deadlines (ms since the epoch) the server saw on Slow calls. */
  const seenDeadline: number[] = [];

  before(async () => {
    server = new grpc.Server();
    server.addService(SERVICE, {
      Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const md = new grpc.Metadata();
        md.set('x-header-back', String(call.metadata.get('x-sent')[0] ?? ''));
        call.sendMetadata(md);
        const trailer = new grpc.Metadata();
        trailer.set('x-trailer', 'tail');
        cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailer);
      },
      ServerStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        const n = Number(call.request.toString());
        let i = 0;
        const tick = (): void => {
          if (i === n) return void call.end();
          call.write(Buffer.from(`m${i++}`));
          setTimeout(tick, 5);
        };
        tick();
      },
      ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const parts: string[] = [];
        call.on('data', (d: Buffer) => parts.push(d.toString()));
        call.on('end', () => cb(null, Buffer.from(parts.join('+'))));
      },
      Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        call.on('data', (d: Buffer) => call.write(Buffer.from(d.toString().toUpperCase())));
        call.on('end', () => call.end());
      },
      Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const md = new grpc.Metadata();
        md.set('x-why', 'because');
        cb({ code: grpc.status.FAILED_PRECONDITION, details: 'custom failure: ümlaut & 100%', metadata: md });
      },
      Slow: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const d = call.getDeadline();
        seenDeadline.push(d instanceof Date ? d.getTime() : Number(d));
        const t = setTimeout(() => cb(null, Buffer.from('late')), 2000);
        call.on('cancelled', () => clearTimeout(t));
      },
      Hang: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        call.write(Buffer.from('first'));
        call.on('cancelled', () => cancelled.push(call.request.toString()));
      },
    });
    upPort = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    gw = await startGateway(
      `upstreams:
  echo: { protocol: h2, targets: [ { url: "http://127.0.0.1:${upPort}" } ] }
  nowhere: { protocol: h2, connectTimeoutMs: 500, targets: [ { url: "http://127.0.0.1:1" } ] }
routes:
  - name: grpc
    match: { path: "/wicket.test.Echo/*" }
    upstream: echo
  - name: grpc-small
    match: { path: "/wicket.test.Echo/*", headers: { x-small: "yes" } }
    upstream: echo
    maxBodyBytes: 1024
  - name: dead
    match: { path: "/wicket.test.Dead/*" }
    upstream: nowhere
`,
      { workers: 2, h2c: true },
    );
    client = new Client(`127.0.0.1:${gw.h2cPort}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  });

  after(async () => {
    client?.close();
    await gw?.stop();
    server?.forceShutdown();
  });

  const unary = (name: string, req: Buffer, md = new grpc.Metadata(), opts: grpc.CallOptions = {}) =>
    new Promise<{ err: grpc.ServiceError | null; res?: Buffer; headers?: grpc.Metadata; trailers?: grpc.Metadata }>((resolve) => {
      let headers: grpc.Metadata | undefined;
      let trailers: grpc.Metadata | undefined;
      const call = (client[name] as (r: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => grpc.ClientUnaryCall)(req, md, opts, (err, res) =>
        setImmediate(() => resolve({ err, res, headers, trailers })),
      );
      call.on('metadata', (m: grpc.Metadata) => (headers = m));
      call.on('status', (s: grpc.StatusObject) => (trailers = s.metadata));
    });

  test('unary: message, request metadata, response headers and trailers', async () => {
    const md = new grpc.Metadata();
    md.set('x-sent', 'hello-md');
    const r = await unary('Unary', Buffer.from('ping'), md);
    assert.equal(r.err, null);
    assert.equal(r.res!.toString(), 'echo:ping');
    assert.equal(r.headers!.get('x-header-back')[0], 'hello-md');
    assert.equal(r.trailers!.get('x-trailer')[0], 'tail');
  });

  const clientStream = (messages: Buffer[]) =>
    new Promise<{ err: grpc.ServiceError | null; res?: Buffer }>((resolve) => {
      const md = new grpc.Metadata();
      md.set('x-small', 'yes');
      const call = (client.ClientStream as (m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => grpc.ClientWritableStream<Buffer>)(md, (err, res) => resolve({ err, res }));
      for (const m of messages) call.write(m);
      call.end();
    });

  test('maxBodyBytes is per message on a gRPC stream: many small messages pass, one over it is RESOURCE_EXHAUSTED', async () => {
    // 40 x 200 bytes: 8 KB in all on a route whose limit is 1 KiB.
    const many = await clientStream(Array.from({ length: 40 }, (_, i) => Buffer.alloc(200, 97 + (i % 26))));
    assert.equal(many.err, null);
    assert.equal(many.res!.toString().split('+').length, 40);
    const big = await clientStream([Buffer.alloc(10, 120), Buffer.alloc(2000, 121)]);
    assert.equal(big.err?.code, grpc.status.RESOURCE_EXHAUSTED, String(big.err));
  });

  test('server streaming: every message, in order', async () => {
    const call = (client.ServerStream as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from('50'));
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      call.on('data', (d: Buffer) => got.push(d.toString()));
      call.on('end', resolve);
      call.on('error', reject);
    });
    assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  test('client streaming and bidirectional streaming', async () => {
    const res = await new Promise<Buffer>((resolve, reject) => {
      const call = (client.ClientStream as (cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => grpc.ClientWritableStream<Buffer>)((e, r) => (e ? reject(e) : resolve(r!)));
      for (const p of ['a', 'b', 'c']) call.write(Buffer.from(p));
      call.end();
    });
    assert.equal(res.toString(), 'a+b+c');

    const bidi = (client.Bidi as () => grpc.ClientDuplexStream<Buffer, Buffer>)();
    const back: string[] = [];
    // One at a time: each answer comes back before the next is sent (really interleaved).
    for (const w of ['one', 'two', 'three']) {
      const next = new Promise<void>((r) => bidi.once('data', (d: Buffer) => (back.push(d.toString()), r())));
      bidi.write(Buffer.from(w));
      await next;
    }
    bidi.end();
    await new Promise((r) => bidi.on('end', r).resume());
    assert.deepEqual(back, ['ONE', 'TWO', 'THREE']);
  });

  test('trailers-only errors: UNIMPLEMENTED from the server, a custom status with message and metadata', async () => {
    const missing = await unary('Missing', Buffer.from('x'));
    assert.equal(missing.err?.code, grpc.status.UNIMPLEMENTED);
    const fail = await unary('Fail', Buffer.from('x'));
    assert.equal(fail.err?.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(fail.err?.details, 'custom failure: ümlaut & 100%');
    assert.equal(fail.err?.metadata.get('x-why')[0], 'because');
  });

  test('deadline: DEADLINE_EXCEEDED at the client, the timeout propagated to the server', async () => {
    const t0 = Date.now();
    const r = await unary('Slow', Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 300 });
    assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(Date.now() - t0 < 1500, `ended after ${Date.now() - t0} ms`);
    assert.equal(seenDeadline.length, 1);
    // The server saw a deadline, shorter than the client's 300 ms (time spent on the way is taken off).
    const d = seenDeadline[0]!;
    // The server's deadline is its clock + the grpc-timeout the gateway sent: within a few ms of the client's own.
    assert.ok(Number.isFinite(d) && Math.abs(d - (t0 + 300)) < 50, `server deadline ${d - t0} ms after the call started`);
  });

  test('client cancellation reaches the server', async () => {
    const call = (client.Hang as (r: Buffer) => grpc.ClientReadableStream<Buffer>)(Buffer.from('cancel-me'));
    await new Promise<void>((r) => call.once('data', () => r()));
    call.on('error', () => {});
    call.cancel();
    assert.ok(await until(() => cancelled.includes('cancel-me'), 3000), 'the server saw the cancellation');
  });

  test("the gateway's own errors are gRPC statuses: no route -> UNIMPLEMENTED, dead upstream -> UNAVAILABLE", async () => {
    const gen = grpc.makeGenericClientConstructor({ Nope: { ...method('Nope', false, false), path: '/wicket.test.Nowhere/Nope' }, Dead: { ...method('Dead', false, false), path: '/wicket.test.Dead/Call' } }, 'X');
    const c = new gen(client.getChannel().getTarget(), grpc.credentials.createInsecure()) as unknown as EchoClient;
    const call = (name: string) =>
      new Promise<grpc.ServiceError | null>((resolve) => (c[name] as (r: Buffer, cb: (e: grpc.ServiceError | null) => void) => void)(Buffer.from('x'), (e) => resolve(e)));
    const nope = await call('Nope');
    assert.equal(nope?.code, grpc.status.UNIMPLEMENTED);
    assert.match(nope!.details, /WICKET_ERR_ROUTE_NOT_FOUND/);
    const dead = await call('Dead');
    assert.equal(dead?.code, grpc.status.UNAVAILABLE);
    assert.match(dead!.details, /WICKET_ERR_UPSTREAM_CONNECT/);
    c.close();
    await sleep(10);
  });
});
