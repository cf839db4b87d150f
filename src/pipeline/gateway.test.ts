// The gateway core in one process, with a recording Downstream: hygiene,
// routing, route-kind checks per listener, the filter chain (sync, async,
// local replies, thrown errors), and onDone once per request.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { Router, compileMatchers } from '../routing/router.js';
import type { CompiledRoute, RouteAction, RouteTable } from '../routing/route.js';
import { RequestContext, type Downstream, type ListenerInfo, type SinkListener, type Upgrade } from './context.js';
import type { Filter } from './filter.js';
import { Gateway } from './gateway.js';
import type { RateWatched } from './body-rate.js';
import { setErrorReporter } from './report.js';

const H1: ListenerInfo = { name: 'http', scheme: 'http', http2: false, upgrade: true, looseChunked: true };
const H2: ListenerInfo = { name: 'h2c', scheme: 'http', http2: true, upgrade: false, looseChunked: false };
const TLS1: ListenerInfo = { name: 'https-h1', scheme: 'https', http2: false, upgrade: false, looseChunked: false };

class Recorder implements Downstream {
  aborted = false;
  started = false;
  extraHeaders: readonly string[] | null = null;
  upgrade: Upgrade | null = null;
  status = 0;
  headers: readonly string[] = [];
  body = '';
  close = false;
  opened = 0;
  get committed(): boolean {
    return this.started;
  }
  setListener(_l: SinkListener | null): void {}
  start(status: number): void {
    this.started = true;
    this.status = status;
  }
  write(): boolean {
    return true;
  }
  end(): void {}
  reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void {
    this.started = true;
    this.status = status;
    this.headers = headers;
    this.body = String(body);
    this.close = close;
  }
  abort(): void {
    this.aborted = true;
  }
  openBody(): RateWatched {
    this.opened++;
    return Object.assign(Readable.from([]), { received: 0, pausedByGateway: false, complete: true });
  }
  header(name: string): string | undefined {
    for (let i = 0; i < this.headers.length; i += 2) if (this.headers[i] === name) return this.headers[i + 1];
    return undefined;
  }
}

const reply: RouteAction = { kind: 'reply', reply: { status: 200, headers: ['content-type', 'text/plain'], body: Buffer.from('ok') } };

function route(name: string, action: RouteAction, filters: Filter[] = []): CompiledRoute {
  const nn = (a: Filter[]) => (a.length === 0 ? null : a);
  return {
    name,
    action,
    maxBodyBytes: 1024,
    filters,
    onRequest: nn(filters.filter((f) => f.onRequest)),
    wrapSink: nn(filters.filter((f) => f.wrapSink)),
    onResponseHeaders: nn(filters.filter((f) => f.onResponseHeaders).reverse()),
    onDone: nn(filters.filter((f) => f.onDone)),
  };
}

function gateway(routes: [string, CompiledRoute][]) {
  const table: RouteTable = {
    version: 1,
    router: new Router(routes.map(([path, value], index) => ({ priority: 0, index, matchers: compileMatchers({ path }), value }))),
    hygiene: { maxHeaderBytes: 16384, maxUrlLength: 8192, encodedSlashes: 'keep', http1ChunkedBodies: 'refuse-from-proxies', trustedProxies: null, requestBodyMinRate: { bytesPerSecond: 0, windowMs: 10000 } },
    pools: new Set(),
  };
  const done: RequestContext[] = [];
  const gw = new Gateway({ table: () => table, done: (ctx) => done.push(ctx) });
  return { gw, done };
}

function request(target: string, headers: string[] = [], listener = H1, method = 'GET'): RequestContext {
  const ctx = new RequestContext(performance.now());
  ctx.listener = listener;
  ctx.method = method;
  const q = target.indexOf('?');
  ctx.target = q < 0 ? target : target.slice(0, q);
  ctx.query = q < 0 ? '' : target.slice(q + 1);
  ctx.headers = headers;
  return ctx;
}

describe('gateway core', () => {
  test('a static reply; unknown paths 404; each request done exactly once', () => {
    const { gw, done } = gateway([['/a', route('a', reply)]]);
    const s1 = new Recorder();
    gw.handle(request('/a'), s1);
    assert.equal(s1.status, 200);
    assert.equal(s1.body, 'ok');
    const s2 = new Recorder();
    gw.handle(request('/b'), s2);
    assert.equal(s2.status, 404);
    assert.match(s2.body, /WICKET_ERR_ROUTE_NOT_FOUND/);
    assert.equal(done.length, 2);
  });

  test('hygiene: control bytes in a value, two Hosts, conflicting lengths, CONNECT, absolute-form', () => {
    const { gw } = gateway([['/a', route('a', reply)]]);
    const cases: [RequestContext, number][] = [
      [request('/a', ['x-a', 'b\x7fc']), 400],
      [request('/a', ['x-a', 'caf\ufffd']), 400],
      [request('/a', ['host', 'a', 'host', 'b']), 400],
      [request('/a', ['content-length', '1', 'content-length', '2']), 400],
      [request('/a', ['transfer-encoding', 'gzip, chunked']), 400],
      [request('/a', [], H1, 'CONNECT'), 405],
      [request('http://a/a'), 400],
      [request('*', [], H1, 'OPTIONS'), 400],
    ];
    for (const [ctx, status] of cases) {
      const s = new Recorder();
      gw.handle(ctx, s);
      assert.equal(s.status, status, `${ctx.method} ${ctx.target} ${ctx.headers.join('|')}`);
    }
  });

  test('chunked bodies on the uWS listener: refused from proxies (411, close), accepted from direct clients', () => {
    const { gw } = gateway([['/a', route('a', reply)]]);
    const s = new Recorder();
    gw.handle(request('/a', ['transfer-encoding', 'chunked', 'via', '1.1 front'], H1, 'POST'), s);
    assert.equal(s.status, 411);
    assert.equal(s.close, true);
    const direct = new Recorder();
    gw.handle(request('/a', ['transfer-encoding', 'chunked'], H1, 'POST'), direct);
    assert.equal(direct.status, 200);
    const tls = new Recorder();
    gw.handle(request('/a', ['transfer-encoding', 'chunked', 'via', '1.1 front'], TLS1, 'POST'), tls);
    assert.equal(tls.status, 200, 'node parsers read chunk extensions correctly');
  });

  test('route kinds a listener cannot serve get their documented errors', () => {
    const pubsub = { kind: 'pubsub', pubsub: {} } as unknown as RouteAction;
    const { gw } = gateway([['/live', route('live', pubsub)]]);
    const h2 = new Recorder();
    gw.handle(request('/live', [], H2), h2);
    assert.equal(h2.status, 426);
    assert.equal(h2.header('upgrade'), undefined, 'no Upgrade header over HTTP/2');
    const h1 = new Recorder();
    gw.handle(request('/live', [], H1), h1);
    assert.equal(h1.status, 426);
    assert.equal(h1.header('upgrade'), 'websocket');
    const tls = new Recorder();
    gw.handle(request('/live', ['upgrade', 'websocket', 'connection', 'upgrade'], TLS1), tls);
    assert.equal(tls.status, 501);
    assert.match(tls.body, /WICKET_ERR_UPGRADE_UNSUPPORTED/);
  });

  test('gRPC over HTTP/1.1 gets 505; on HTTP/2 errors are gRPC trailers-only answers', () => {
    const { gw } = gateway([['/a', route('a', reply)]]);
    const h1 = new Recorder();
    gw.handle(request('/a', ['content-type', 'application/grpc'], H1, 'POST'), h1);
    assert.equal(h1.status, 505);
    const h2 = new Recorder();
    gw.handle(request('/pkg.Svc/Missing', ['content-type', 'application/grpc'], H2, 'POST'), h2);
    assert.equal(h2.status, 200, 'gRPC errors ride on HTTP 200');
  });

  test('filters: chain order, sync and async continue, a local reply stops the chain, onDone once', async () => {
    const seen: string[] = [];
    const f = (name: string, d?: () => unknown): Filter => ({
      name,
      onRequest: () => {
        seen.push(name);
        return d?.() as undefined;
      },
      onDone: () => void seen.push(`done:${name}`),
    });
    const { gw, done } = gateway([
      ['/a', route('a', reply, [f('one'), f('two', () => Promise.resolve(undefined)), f('three')])],
      ['/b', route('b', reply, [f('one'), f('deny', () => ({ error: 'WICKET_ERR_PERMISSION_DENIED' })), f('never')])],
    ]);
    const s = new Recorder();
    gw.handle(request('/a'), s);
    await new Promise((r) => setImmediate(r));
    assert.equal(s.status, 200);
    assert.deepEqual(seen, ['one', 'two', 'three', 'done:one', 'done:two', 'done:three']);
    seen.length = 0;
    const d = new Recorder();
    gw.handle(request('/b'), d);
    assert.equal(d.status, 403);
    assert.deepEqual(seen, ['one', 'deny', 'done:one', 'done:deny', 'done:never']);
    assert.equal(done.length, 2);
  });

  test('a filter that throws (sync, async, in onDone) fails only its own request with WICKET_ERR_INTERNAL', async () => {
    const reported: string[] = [];
    setErrorReporter((_e, where) => reported.push(where));
    const boom: Filter = { name: 'boom', onRequest: () => { throw new Error('bug'); } };
    const later: Filter = { name: 'later', onRequest: () => Promise.reject(new Error('async bug')) };
    const badDone: Filter = { name: 'bad-done', onDone: () => { throw new Error('done bug'); } };
    const { gw, done } = gateway([
      ['/sync', route('sync', reply, [boom])],
      ['/async', route('async', reply, [later])],
      ['/done', route('done', reply, [badDone])],
    ]);
    const a = new Recorder();
    gw.handle(request('/sync'), a);
    assert.equal(a.status, 500);
    assert.match(a.body, /WICKET_ERR_INTERNAL/);
    const b = new Recorder();
    gw.handle(request('/async'), b);
    await new Promise((r) => setImmediate(r));
    assert.equal(b.status, 500);
    const c = new Recorder();
    gw.handle(request('/done'), c);
    assert.equal(c.status, 200);
    assert.equal(done.length, 3);
    assert.deepEqual(reported, ['filter boom onRequest', 'filter later onRequest', 'filter bad-done onDone']);
    setErrorReporter(() => {});
  });

  test('response phases: onResponseHeaders in reverse chain order, on local replies too', () => {
    const order: string[] = [];
    const tag = (name: string): Filter => ({
      name,
      onResponseHeaders: (_ctx, head) => {
        order.push(name);
        head.headers.push('x-by', name);
      },
    });
    const { gw } = gateway([['/a', route('a', reply, [tag('first'), tag('second')])]]);
    const s = new Recorder();
    gw.handle(request('/a'), s);
    assert.deepEqual(order, ['second', 'first']);
    assert.deepEqual(s.headers.slice(-4), ['x-by', 'second', 'x-by', 'first']);
  });

  test('the body is opened only for routes that forward it, and refused over maxBodyBytes by its declared length', () => {
    const { gw } = gateway([['/a', route('a', reply)]]);
    const s = new Recorder();
    gw.handle(request('/a', ['content-length', '5'], H1, 'POST'), s);
    assert.equal(s.opened, 0);
  });
});
