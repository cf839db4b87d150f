// H1Pool (Wicket's own HTTP/1.1 upstream client) against real loopback
// servers: raw net.Servers writing exact bytes where exactness matters,
// node:http otherwise. A recording handler checks the callback contract
// (onConnect first, at most one onHeaders, onData only after headers and
// never while paused, exactly one of onComplete/onError, nothing after it).
//
// Scenarios in which the upstream sends bytes the client must reject while
// its parser is mid-callback run in a child process (this file re-executed
// with WICKET_H1_SCENARIO set), so that a native crash fails one test
// instead of taking the whole file down.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type net from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { H1Pool, type H1PoolOptions } from './pool.js';
import type { UpstreamHandler, UpstreamRequest } from '../dispatch-handler.js';
import { httpServer, rawServer, readRequests, respondingServer, response, type TestServer } from './test-server.js';

// --- helpers -------------------------------------------------------------------

type CodedError = Error & { code?: string };
type Ev =
  | { t: 'connect' }
  | { t: 'headers'; status: number; headers: string[]; statusText: string }
  | { t: 'data'; chunk: Buffer }
  | { t: 'complete' }
  | { t: 'error'; err: CodedError };

interface Hooks {
  onConnect?(rec: Recorder): void;
  /** Return false to pause. */
  onHeaders?(rec: Recorder): boolean;
  /** Return false to pause (then call rec.resume() later, never synchronously). */
  onData?(chunk: Buffer, rec: Recorder): boolean;
}

/** An UpstreamHandler that records every callback and checks their order. */
class Recorder implements UpstreamHandler {
  readonly events: Ev[] = [];
  readonly violations: string[] = [];
  abort: ((err?: Error) => void) | null = null;
  /** True from a `false` returned by onHeaders/onData until resume(). */
  paused = false;
  readonly done: Promise<'complete' | 'error'>;
  #settle!: (v: 'complete' | 'error') => void;
  #resume: (() => void) | null = null;
  #ended = false;

  constructor(readonly hooks: Hooks = {}) {
    this.done = new Promise((r) => (this.#settle = r));
  }

  #push(e: Ev): void {
    if (this.#ended) this.violations.push(`${e.t} after the end`);
    this.events.push(e);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.events.length > 0) this.violations.push('onConnect not first');
    this.#push({ t: 'connect' });
    this.abort = abort;
    this.hooks.onConnect?.(this);
  }

  onHeaders(status: number, raw: (Buffer | string)[], resume: () => void, statusText: string): boolean {
    if (!this.events.some((e) => e.t === 'connect')) this.violations.push('onHeaders before onConnect');
    if (this.events.some((e) => e.t === 'headers')) this.violations.push('second onHeaders');
    this.#push({ t: 'headers', status, headers: raw.map(String), statusText });
    this.#resume = resume;
    const ok = this.hooks.onHeaders?.(this) ?? true;
    if (!ok) this.paused = true;
    return ok;
  }

  onData(chunk: Buffer): boolean {
    if (!this.events.some((e) => e.t === 'headers')) this.violations.push('onData before onHeaders');
    if (this.paused) this.violations.push('onData while paused');
    this.#push({ t: 'data', chunk: Buffer.from(chunk) });
    const ok = this.hooks.onData?.(chunk, this) ?? true;
    if (!ok) this.paused = true;
    return ok;
  }

  onComplete(): void {
    this.#push({ t: 'complete' });
    this.#end('complete');
  }

  onError(err: Error): void {
    this.#push({ t: 'error', err });
    this.#end('error');
  }

  #end(v: 'complete' | 'error'): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#settle(v);
  }

  /** Undoes a pause: calls the resume function given to onHeaders. */
  resume(): void {
    this.paused = false;
    this.#resume!();
  }

  /** Waits (bounded) for onComplete or onError. */
  finished(ms = 4000): Promise<'complete' | 'error'> {
    return within(this.done, ms, 'the request to end (onComplete/onError)');
  }

  /** Event kinds, consecutive data events collapsed. */
  get kinds(): string[] {
    const out: string[] = [];
    for (const e of this.events) if (!(e.t === 'data' && out.at(-1) === 'data')) out.push(e.t);
    return out;
  }
  get status(): number | undefined {
    for (const e of this.events) if (e.t === 'headers') return e.status;
    return undefined;
  }
  get statusText(): string | undefined {
    for (const e of this.events) if (e.t === 'headers') return e.statusText;
    return undefined;
  }
  get headers(): string[] | undefined {
    for (const e of this.events) if (e.t === 'headers') return e.headers;
    return undefined;
  }
  get body(): Buffer {
    return Buffer.concat(this.events.flatMap((e) => (e.t === 'data' ? [e.chunk] : [])));
  }
  get error(): CodedError | undefined {
    for (const e of this.events) if (e.t === 'error') return e.err;
    return undefined;
  }
  get dataCount(): number {
    return this.events.filter((e) => e.t === 'data').length;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

function closed(s: net.Socket, ms: number, what = 'the server to see its socket closed'): Promise<void> {
  if (s.closed) return Promise.resolve();
  return within(new Promise<void>((r) => s.once('close', () => r())), ms, what);
}

const OPTS: H1PoolOptions = {
  connections: 4,
  connectTimeoutMs: 2000,
  headersTimeoutMs: 3000,
  bodyTimeoutMs: 3000,
  keepAliveTimeoutMs: 10_000,
  poolWaitMs: 0,
};

function newPool(t: TestContext | null, origin: string, o: Partial<H1PoolOptions> = {}): H1Pool {
  const pool = new H1Pool(origin, { ...OPTS, ...o });
  if (t !== null) t.after(() => within(pool.close(), 2000, 'pool.close()').catch(() => {}));
  return pool;
}

async function serve<S extends TestServer>(t: TestContext | null, s: Promise<S>): Promise<S> {
  const srv = await s;
  if (t !== null) t.after(() => srv.close());
  return srv;
}

function req(method: string, path = '/', headers: string[] = ['host', 'upstream.test'], body: Readable | null = null): UpstreamRequest {
  return { method, path, headers, body };
}
const get = (path = '/', headers?: string[]) => req('GET', path, headers);

/** Dispatches and waits (bounded) for the end. */
async function run(pool: H1Pool, r: UpstreamRequest, hooks: Hooks = {}, ms = 4000): Promise<Recorder> {
  const rec = new Recorder(hooks);
  pool.dispatch(r, rec);
  await rec.finished(ms);
  return rec;
}

function assertOk(rec: Recorder, body: string, status = 200): void {
  assert.deepEqual(rec.violations, []);
  assert.equal(rec.error, undefined, `unexpected onError: ${rec.error?.code} ${rec.error?.message}`);
  assert.equal(rec.status, status);
  assert.equal(rec.body.toString('latin1'), body);
  assert.equal(rec.kinds.at(-1), 'complete');
}

/** Deterministic body content: byte i of the whole body is (i * 31 + 7) & 0xff. */
function pattern(offset: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = ((offset + i) * 31 + 7) & 0xff;
  return b;
}

// --- child-process scenarios (native-crash isolation) -----------------------------

interface Summary {
  kinds: string[];
  status?: number;
  headers?: string[];
  body: string;
  code?: string;
  violations: string[];
}
function summarize(rec: Recorder): Summary {
  return {
    kinds: rec.kinds,
    status: rec.status,
    headers: rec.headers,
    body: rec.body.toString('latin1'),
    code: rec.error?.code,
    violations: rec.violations,
  };
}

/** Each returns a JSON-able result; run with WICKET_H1_SCENARIO=<name>. */
const scenarios: Record<string, () => Promise<unknown>> = {
  /** A complete response and a second, unsolicited one in the same packet. */
  async 'extra-response-same-packet'() {
    const srv = await respondingServer((_r, _s, conn) =>
      conn === 0 ? response('ok') + response('bad', 'X-Unsolicited: yes\r\n') : response('fresh'),
    );
    const pool = newPool(null, srv.origin, { connections: 1 });
    const first = await run(pool, get('/1'));
    await sleep(50);
    const second = await run(pool, get('/2'));
    await pool.close();
    await srv.close();
    return { first: summarize(first), second: summarize(second), connections: srv.connections };
  },

  /** An unsolicited response arrives on an idle keep-alive connection. */
  async 'unsolicited-response-while-idle'() {
    const srv = await respondingServer((_r, s, conn) => {
      if (conn !== 0) return response('fresh');
      setTimeout(() => s.write(response('bad', 'X-Unsolicited: yes\r\n')), 30);
      return response('ok');
    });
    const pool = newPool(null, srv.origin, { connections: 1 });
    const first = await run(pool, get('/1'));
    await sleep(150);
    const second = await run(pool, get('/2'));
    await pool.close();
    await srv.close();
    return { first: summarize(first), second: summarize(second), connections: srv.connections };
  },

  /** 100 Continue and the final 200 in one packet, then a second request. */
  async 'continue-same-packet'() {
    const srv = await respondingServer((r) =>
      r.index === 0 ? 'HTTP/1.1 100 Continue\r\n\r\n' + response('ok') : response('next'),
    );
    const pool = newPool(null, srv.origin, { connections: 1 });
    const first = await run(pool, get('/1'));
    const second = await run(pool, get('/2'));
    await pool.close();
    await srv.close();
    return { first: summarize(first), second: summarize(second), connections: srv.connections };
  },

  /** 100 Continue, then (later, separate write) the final 200, then a second request. */
  async 'continue-separate-packets'() {
    const srv = await respondingServer((r, s) => {
      if (r.index !== 0) return response('next');
      setTimeout(() => s.write(response('ok')), 50);
      return 'HTTP/1.1 100 Continue\r\n\r\n';
    });
    const pool = newPool(null, srv.origin, { connections: 1 });
    const first = await run(pool, get('/1'));
    await sleep(150); // let the 200 arrive whatever the client did with the 100
    const second = await run(pool, get('/2'));
    await pool.close();
    await srv.close();
    return { first: summarize(first), second: summarize(second), connections: srv.connections };
  },

  /** A 101 Switching Protocols nobody asked for. */
  async 'unexpected-101'() {
    const srv = await respondingServer((_r, _s, conn) =>
      conn === 0
        ? 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'
        : response('fresh'),
    );
    const pool = newPool(null, srv.origin, { connections: 1 });
    const first = await run(pool, get('/1', ['host', 'upstream.test', 'connection', 'upgrade', 'upgrade', 'websocket']));
    const second = await run(pool, get('/2'));
    await pool.close();
    await srv.close();
    return { first: summarize(first), second: summarize(second), connections: srv.connections };
  },

  /** The handler calls abort() synchronously inside onData (inside the parser's callback). */
  async 'abort-inside-onData'() {
    return abortInsideCallback('data');
  },

  /** The handler calls abort() synchronously inside onHeaders. */
  async 'abort-inside-onHeaders'() {
    return abortInsideCallback('headers');
  },
};

async function abortInsideCallback(where: 'headers' | 'data') {
  let firstSocket: net.Socket | null = null;
  const srv = await respondingServer((_r, s, conn) => {
    if (conn !== 0) return response('fresh');
    firstSocket = s;
    // Headers, a first slice of body, and more body in the same packet.
    return `HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'a'.repeat(100)}`;
  });
  const pool = newPool(null, srv.origin, { connections: 1 });
  const err = new Error('handler gave up');
  const first = await run(pool, get('/1'), {
    onHeaders(rec) {
      if (where === 'headers') rec.abort!(err);
      return true;
    },
    onData(_c, rec) {
      if (where === 'data') rec.abort!(err);
      return true;
    },
  });
  let serverSawClose = false;
  if (firstSocket !== null) {
    await closed(firstSocket, 2000).then(() => (serverSawClose = true), () => {});
  }
  const second = await run(pool, get('/2'));
  await pool.close();
  await srv.close();
  return {
    first: summarize(first),
    sameError: first.error === err,
    serverSawClose,
    second: summarize(second),
    connections: srv.connections,
  };
}

const SELF = fileURLToPath(import.meta.url);

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  result: any;
}

function inChild(name: string, ms = 15_000): Promise<ChildResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, WICKET_H1_SCENARIO: name };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [SELF], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      resolve({ code, signal, stderr: err.slice(-2000), result: line === undefined ? undefined : JSON.parse(line.slice(7)) });
    });
  });
}

function assertChildSurvived(r: ChildResult): void {
  assert.equal(
    r.signal,
    null,
    `the process running H1Pool died with ${r.signal} (native crash): the parser was freed inside its own callback; stderr: ${r.stderr}`,
  );
  assert.equal(r.code, 0, `scenario process exited with ${r.code}; stderr: ${r.stderr}`);
  assert.notEqual(r.result, undefined, 'scenario printed no result');
}

const SCENARIO = process.env.WICKET_H1_SCENARIO;
if (SCENARIO !== undefined) {
  const fn = scenarios[SCENARIO];
  if (fn === undefined) throw new Error(`unknown scenario ${SCENARIO}`);
  const result = await within(fn(), 12_000, `scenario ${SCENARIO}`);
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(0);
}

// --- tests -----------------------------------------------------------------------

const T = { timeout: 15_000 };

describe('H1Pool: bounded waits', () => {
  test('every connection busy past poolWaitMs: the queued request fails with WICKET_ERR_UPSTREAM_POOL_EXHAUSTED', T, async (t) => {
    // Answers the first request only after 1.5 s: the one connection stays busy.
    const srv = await serve(t, respondingServer((r, s) => {
      if (r.index !== 0) return response(`r${r.index}`);
      setTimeout(() => s.write(response('r0')), 1500);
      return null;
    }));
    const pool = newPool(t, srv.origin, { connections: 1, poolWaitMs: 200 });
    const first = new Recorder();
    pool.dispatch(get('/slow'), first);
    const started = Date.now();
    const second = await run(pool, get('/queued'));
    const waited = Date.now() - started;
    assert.equal(second.error?.code, 'WICKET_ERR_UPSTREAM_POOL_EXHAUSTED');
    assert.ok(waited < 1400, `answered before the busy connection freed up (${waited} ms)`);
    await first.finished();
    assertOk(first, 'r0');
    assertOk(await run(pool, get('/after')), 'r1');
  });
});

describe('H1Pool: response framing', () => {
  test('GET with Content-Length: status, raw headers in order, body, callbacks in order', T, async (t) => {
    const srv = await serve(t, respondingServer(() => 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Test: a\r\nx-lower: B c\r\n\r\nhello'));
    const pool = newPool(t, srv.origin);
    const rec = await run(pool, get('/x'));
    assertOk(rec, 'hello');
    assert.deepEqual(rec.kinds, ['connect', 'headers', 'data', 'complete']);
    assert.equal(rec.statusText, 'OK');
    assert.deepEqual(rec.headers, ['Content-Length', '5', 'X-Test', 'a', 'x-lower', 'B c']);
  });

  test('chunked response over several writes: body de-chunked, connection reusable after', T, async (t) => {
    const srv = await serve(t, respondingServer((r, s) => {
      if (r.index > 0) return response('again');
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel');
      setTimeout(() => s.write('lo\r\n6\r\n world\r\n'), 20);
      setTimeout(() => s.write('0\r\n\r\n'), 40);
      return null;
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    assertOk(rec, 'hello world');
    assert.deepEqual(rec.headers, ['Transfer-Encoding', 'chunked']);
    assertOk(await run(pool, get()), 'again');
    assert.equal(srv.connections, 1);
  });

  test('close-delimited response (no Content-Length, no Transfer-Encoding): body until FIN, not reused', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, s, conn) => {
      if (conn > 0) return response('fresh');
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\npart1');
      setTimeout(() => s.write('part2'), 20);
      setTimeout(() => s.end(), 40);
      return null;
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    assertOk(rec, 'part1part2');
    assertOk(await run(pool, get()), 'fresh');
    assert.equal(srv.connections, 2);
  });

  test('HEAD with Content-Length: no body awaited or delivered; the connection is reused', T, async (t) => {
    const srv = await serve(t, respondingServer((r) =>
      r.method === 'HEAD' ? 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n' : response('after'),
    ));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, req('HEAD'));
    assertOk(rec, '');
    assert.deepEqual(rec.kinds, ['connect', 'headers', 'complete']);
    assert.deepEqual(rec.headers, ['Content-Length', '1234']);
    assertOk(await run(pool, get()), 'after');
    assert.equal(srv.connections, 1);
  });

  test('204 No Content: no body; the connection is reused', T, async (t) => {
    const srv = await serve(t, respondingServer((r) => (r.index === 0 ? 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n' : response('after'))));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, req('DELETE', '/thing'));
    assertOk(rec, '', 204);
    assert.deepEqual(rec.kinds, ['connect', 'headers', 'complete']);
    assertOk(await run(pool, get()), 'after');
    assert.equal(srv.connections, 1);
  });

  test('304 Not Modified with a Content-Length: no body read; the connection is reused', T, async (t) => {
    const srv = await serve(t, respondingServer((r) =>
      r.index === 0 ? 'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 10\r\n\r\n' : response('after'),
    ));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get('/', ['host', 'h', 'if-none-match', '"v1"']));
    assertOk(rec, '', 304);
    assert.deepEqual(rec.kinds, ['connect', 'headers', 'complete']);
    assertOk(await run(pool, get()), 'after');
    assert.equal(srv.connections, 1);
  });

  test('100 Continue then 200 in separate packets: the 1xx is not forwarded, the 200 is', T, async () => {
    const r = await inChild('continue-separate-packets');
    assertChildSurvived(r);
    const { first, second } = r.result;
    assert.deepEqual(first.violations, []);
    assert.deepEqual(first.kinds, ['connect', 'headers', 'data', 'complete'], `first request: ${JSON.stringify(first)}`);
    assert.equal(first.status, 200);
    assert.equal(first.body, 'ok');
    assert.equal(second.body, 'next');
    assert.equal(r.result.connections, 1);
  });

  test('100 Continue and the 200 in the same packet: the 200 is delivered', T, async () => {
    const r = await inChild('continue-same-packet');
    assertChildSurvived(r);
    const { first, second } = r.result;
    assert.deepEqual(first.kinds, ['connect', 'headers', 'data', 'complete'], `first request: ${JSON.stringify(first)}`);
    assert.equal(first.status, 200);
    assert.equal(first.body, 'ok');
    assert.equal(second.body, 'next');
  });

  test('more header fields than the native parser batches (40): all delivered, in order', T, async (t) => {
    const names: string[] = [];
    let head = 'HTTP/1.1 200 OK\r\n';
    for (let i = 0; i < 40; i++) {
      names.push(`X-H${i}`, `v${i}`);
      head += `X-H${i}: v${i}\r\n`;
    }
    const srv = await serve(t, respondingServer(() => `${head}Content-Length: 2\r\n\r\nok`));
    const pool = newPool(t, srv.origin);
    const rec = await run(pool, get());
    assertOk(rec, 'ok');
    assert.deepEqual(rec.headers, [...names, 'Content-Length', '2']);
  });

  test('chunked trailers do not leak into the next response on the same connection', T, async (t) => {
    const srv = await serve(t, respondingServer((r) =>
      r.index === 0
        ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n2\r\nok\r\n0\r\nX-Checksum: abc\r\n\r\n'
        : response('two', 'X-Second: 1\r\n'),
    ));
    const pool = newPool(t, srv.origin, { connections: 1 });
    assertOk(await run(pool, get('/1')), 'ok');
    const second = await run(pool, get('/2'));
    assertOk(second, 'two');
    assert.deepEqual(second.headers, ['Content-Length', '3', 'X-Second', '1']);
    assert.equal(srv.connections, 1);
  });
});

describe('H1Pool: request framing on the wire', () => {
  test('no body: exactly the request line and the given headers, no Content-Length or Transfer-Encoding added', T, async (t) => {
    const wires: { received(): Buffer }[] = [];
    const srv = await serve(t, rawServer((s) => {
      wires.push(readRequests(s, () => s.write(response('ok'))));
    }));
    const pool = newPool(t, srv.origin);
    const rec = await run(pool, get('/p/a?q=1&r=%20', ['host', 'example.test', 'x-a', '1', 'accept', '*/*']));
    assertOk(rec, 'ok');
    assert.equal(
      wires[0]!.received().toString('latin1'),
      'GET /p/a?q=1&r=%20 HTTP/1.1\r\nhost: example.test\r\nx-a: 1\r\naccept: */*\r\n\r\n',
    );
  });

  test('Readable body with a content-length header: that length and the exact bytes, not chunked', T, async (t) => {
    const wires: { received(): Buffer }[] = [];
    const srv = await serve(t, rawServer((s) => {
      wires.push(readRequests(s, () => s.write(response('ok'))));
    }));
    const pool = newPool(t, srv.origin);
    const body = Readable.from([Buffer.from('hello'), Buffer.from(' '), Buffer.from('world')]);
    const rec = await run(pool, req('POST', '/u', ['host', 'h', 'content-length', '11'], body));
    assertOk(rec, 'ok');
    assert.equal(wires[0]!.received().toString('latin1'), 'POST /u HTTP/1.1\r\nhost: h\r\ncontent-length: 11\r\n\r\nhello world');
  });

  test('Readable body without content-length: transfer-encoding: chunked, correct chunks, 0\\r\\n\\r\\n', T, async (t) => {
    const wires: { received(): Buffer }[] = [];
    const srv = await serve(t, rawServer((s) => {
      wires.push(readRequests(s, () => s.write(response('ok'))));
    }));
    const pool = newPool(t, srv.origin);
    const big = pattern(0, 300);
    const body = Readable.from([Buffer.from('hello'), Buffer.alloc(0), Buffer.from(' world'), big]);
    const rec = await run(pool, req('PUT', '/u', ['host', 'h'], body));
    assertOk(rec, 'ok');
    const expected = Buffer.concat([
      Buffer.from('PUT /u HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n12c\r\n', 'latin1'),
      big,
      Buffer.from('\r\n0\r\n\r\n', 'latin1'),
    ]);
    assert.deepEqual(wires[0]!.received(), expected);
  });

  test('a Content-Length header spelled in mixed case is honoured (no transfer-encoding added next to it)', T, async (t) => {
    const srv = await serve(t, respondingServer(() => response('ok')));
    const pool = newPool(t, srv.origin);
    const body = Readable.from([Buffer.from('hello world')]);
    const rec = await run(pool, req('POST', '/u', ['host', 'h', 'Content-Length', '11'], body));
    assertOk(rec, 'ok');
    const r = srv.requests[0]!;
    assert.deepEqual(r.headers.map(([k]) => k), ['host', 'content-length'], `request head on the wire:\n${r.head}`);
    assert.equal(r.wireBody.toString('latin1'), 'hello world');
  });

  test('a header value with CR/LF or an invalid path: onError UND_ERR_INVALID_ARG, nothing sent, the pool keeps serving', T, async (t) => {
    const srv = await serve(t, respondingServer(() => response('ok')));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const bad1 = await run(pool, get('/', ['host', 'h', 'x-a', 'v\r\nx-injected: 1']));
    assert.equal(bad1.error?.code, 'UND_ERR_INVALID_ARG');
    const bad2 = await run(pool, get('/a b'));
    assert.equal(bad2.error?.code, 'UND_ERR_INVALID_ARG');
    assertOk(await run(pool, get('/good')), 'ok');
    assert.deepEqual(srv.requests.map((r) => r.path), ['/good']);
    assert.deepEqual(bad1.violations, []);
    assert.deepEqual(bad2.violations, []);
  });

  test('a header name with CR/LF is rejected like a bad value (no header injection)', T, async (t) => {
    const srv = await serve(t, respondingServer(() => response('ok')));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const bad = await run(pool, get('/', ['host', 'h', 'x-a\r\nx-injected', 'v']));
    assert.equal(bad.error?.code, 'UND_ERR_INVALID_ARG', `request sent as:\n${srv.requests[0]?.head}`);
    assertOk(await run(pool, get('/good')), 'ok');
    assert.ok(!srv.requests.some((r) => r.headers.some(([k]) => k === 'x-injected')));
  });
});

describe('H1Pool: keep-alive', () => {
  test('two sequential requests share one TCP connection', T, async (t) => {
    const srv = await serve(t, httpServer((rq, rs) => rs.end(`you asked ${rq.url}`)));
    const pool = newPool(t, srv.origin);
    assertOk(await run(pool, get('/a')), 'you asked /a');
    assertOk(await run(pool, get('/b')), 'you asked /b');
    assert.equal(srv.connections, 1);
  });

  test('a Connection: close response is not reused: the next request opens a new connection', T, async (t) => {
    const srv = await serve(t, httpServer((rq, rs) => {
      rs.setHeader('connection', 'close');
      rs.end(`you asked ${rq.url}`);
    }));
    const pool = newPool(t, srv.origin);
    assertOk(await run(pool, get('/a')), 'you asked /a');
    assertOk(await run(pool, get('/b')), 'you asked /b');
    assert.equal(srv.connections, 2);
  });

  test('an HTTP/1.0 response without keep-alive is not reused', T, async (t) => {
    const srv = await serve(t, respondingServer(() => 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const pool = newPool(t, srv.origin);
    assertOk(await run(pool, get()), 'ok');
    assertOk(await run(pool, get()), 'ok');
    assert.equal(srv.connections, 2);
  });

  test('stale keep-alive: the server closes an idle connection some time after a response; the next GET succeeds on a new one', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, s) => {
      setTimeout(() => s.end(), 30);
      return response('ok');
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    assertOk(await run(pool, get('/1')), 'ok');
    await until(() => srv.open === 0, 2000, 'the first connection to close');
    const rec = await run(pool, get('/2'));
    assertOk(rec, 'ok');
    assert.deepEqual(rec.kinds, ['connect', 'headers', 'data', 'complete']);
    assert.equal(srv.connections, 2);
  });

  test('stale keep-alive race: a reused connection closed with no response byte: the GET is retried once on a new connection', T, async (t) => {
    const srv = await serve(t, respondingServer((r, s, conn) => {
      if (conn === 0 && r.index === 1) {
        s.destroy(); // closed "just as" the request arrived
        return null;
      }
      return response(`conn ${conn}`);
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    assertOk(await run(pool, get('/1')), 'conn 0');
    const rec = await run(pool, get('/2'));
    assertOk(rec, 'conn 1');
    assert.deepEqual(rec.kinds, ['connect', 'headers', 'data', 'complete']);
    assert.deepEqual(srv.requests.map((r) => `${r.conn}:${r.path}`), ['0:/1', '0:/2', '1:/2']);
  });

  test('the stale retry happens only once: a fresh connection that also closes fails the request', T, async (t) => {
    const srv = await serve(t, respondingServer((r, s, conn) => {
      if ((conn === 0 && r.index === 1) || conn === 1) {
        s.destroy();
        return null;
      }
      return response('ok');
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    assertOk(await run(pool, get('/1')), 'ok');
    const rec = await run(pool, get('/2'));
    assert.deepEqual(rec.violations, []);
    assert.deepEqual(rec.kinds, ['connect', 'error']);
    assert.ok(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(rec.error!.code!), `code ${rec.error!.code}`);
    assert.deepEqual(srv.requests.map((r) => `${r.conn}:${r.path}`), ['0:/1', '0:/2', '1:/2']);
  });

  test('a request with a body is never replayed on a stale connection', T, async (t) => {
    const srv = await serve(t, respondingServer((r, s, conn) => {
      if (conn === 0 && r.index === 1) {
        s.destroy();
        return null;
      }
      return response('ok');
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    assertOk(await run(pool, get('/1')), 'ok');
    const rec = await run(pool, req('POST', '/2', ['host', 'h', 'content-length', '3'], Readable.from([Buffer.from('abc')])));
    assert.deepEqual(rec.kinds, ['connect', 'error']);
    await sleep(50);
    assert.equal(srv.requests.filter((r) => r.path === '/2').length, 1);
  });

  test('a non-idempotent request (bodiless POST) is not replayed on a stale connection', T, async (t) => {
    const srv = await serve(t, respondingServer((r, s, conn) => {
      if (conn === 0 && r.index === 1) {
        s.destroy(); // the upstream may well have acted on it before closing
        return null;
      }
      return response('ok');
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    assertOk(await run(pool, get('/1')), 'ok');
    const rec = await run(pool, req('POST', '/charge', ['host', 'h', 'content-length', '0']));
    await sleep(50);
    assert.equal(
      srv.requests.filter((r) => r.path === '/charge').length,
      1,
      'the POST reached the upstream twice (auto-retried on a new connection)',
    );
    assert.deepEqual(rec.kinds, ['connect', 'error']);
  });
});

describe('H1Pool: malformed responses', () => {
  test('garbage status line: onError HPE_*, no headers delivered, the connection is not reused', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, _s, conn) => (conn === 0 ? 'HTTP/1.1 2x0 Nope\r\n\r\n' : response('fresh'))));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    assert.deepEqual(rec.violations, []);
    assert.deepEqual(rec.kinds, ['connect', 'error']);
    assert.match(rec.error!.code!, /^HPE_/);
    assertOk(await run(pool, get()), 'fresh');
    assert.equal(srv.connections, 2);
  });

  test('not HTTP at all: onError HPE_*', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, _s, conn) => (conn === 0 ? 'SSH-2.0-OpenSSH_9.6\r\n' : response('fresh'))));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    assert.deepEqual(rec.kinds, ['connect', 'error']);
    assert.match(rec.error!.code!, /^HPE_/);
    assertOk(await run(pool, get()), 'fresh');
    assert.equal(srv.connections, 2);
  });

  test('two different Content-Length headers: onError HPE_*, the connection is not reused', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, _s, conn) =>
      conn === 0 ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk' : response('fresh'),
    ));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    assert.deepEqual(rec.violations, []);
    assert.deepEqual(rec.kinds, ['connect', 'error']);
    assert.match(rec.error!.code!, /^HPE_/);
    assertOk(await run(pool, get()), 'fresh');
    assert.equal(srv.connections, 2);
  });

  test('invalid chunk size mid-body: onError HPE_* after the headers', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, _s, conn) =>
      conn === 0 ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\nzz\r\n' : response('fresh'),
    ));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    assert.deepEqual(rec.violations, []);
    assert.equal(rec.kinds.at(-1), 'error');
    assert.match(rec.error!.code!, /^HPE_/);
    assertOk(await run(pool, get()), 'fresh');
    assert.equal(srv.connections, 2);
  });

  test('body shorter than its Content-Length, then FIN: onError, never onComplete', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, s, conn) => {
      if (conn > 0) return response('fresh');
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      return null;
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    assert.deepEqual(rec.violations, []);
    assert.deepEqual(rec.kinds, ['connect', 'headers', 'data', 'error']);
    assert.ok(rec.error!.code, 'error has a code');
    assertOk(await run(pool, get()), 'fresh');
  });

  test('a second, unsolicited response in the same packet: never delivered as the next request\'s response', T, async () => {
    const r = await inChild('extra-response-same-packet');
    assertChildSurvived(r);
    const { first, second, connections } = r.result;
    assert.deepEqual(first.violations, []);
    if (first.code !== undefined) assert.match(first.code, /^HPE_/);
    else assert.equal(first.body, 'ok');
    assert.deepEqual(second.violations, []);
    assert.equal(second.body, 'fresh', `second request: ${JSON.stringify(second)}`);
    assert.equal(connections, 2);
  });

  test('an unsolicited response on an idle connection: the connection is dropped, the next request is served fresh', T, async () => {
    const r = await inChild('unsolicited-response-while-idle');
    assertChildSurvived(r);
    const { first, second, connections } = r.result;
    assert.equal(first.body, 'ok');
    assert.deepEqual(first.kinds, ['connect', 'headers', 'data', 'complete']);
    assert.equal(second.body, 'fresh', `second request: ${JSON.stringify(second)}`);
    assert.equal(connections, 2);
  });

  test('an unrequested 101 Switching Protocols: onError, the next request is served fresh', T, async () => {
    const r = await inChild('unexpected-101');
    assertChildSurvived(r);
    const { first, second } = r.result;
    assert.equal(first.kinds.at(-1), 'error');
    assert.equal(second.body, 'fresh');
  });
});

describe('H1Pool: connection errors and timeouts', () => {
  test('connection refused: onError ECONNREFUSED for each of 3 queued requests (connections: 1)', T, async (t) => {
    const tmp = await rawServer(() => {});
    const origin = tmp.origin;
    await tmp.close();
    const pool = newPool(t, origin, { connections: 1 });
    const recs = [new Recorder(), new Recorder(), new Recorder()];
    for (const r of recs) pool.dispatch(get(), r);
    await within(Promise.all(recs.map((r) => r.done)), 4000, 'all three to fail');
    for (const r of recs) {
      assert.deepEqual(r.violations, []);
      assert.deepEqual(r.kinds, ['connect', 'error']);
      assert.equal(r.error!.code, 'ECONNREFUSED');
    }
  });

  test('headersTimeoutMs: a server that never answers -> UND_ERR_HEADERS_TIMEOUT, socket closed', T, async (t) => {
    const srv = await serve(t, rawServer((s) => s.resume())); // reads, never answers
    const pool = newPool(t, srv.origin, { headersTimeoutMs: 200 });
    const rec = await run(pool, get());
    assert.deepEqual(rec.violations, []);
    assert.deepEqual(rec.kinds, ['connect', 'error']);
    assert.equal(rec.error!.code, 'UND_ERR_HEADERS_TIMEOUT');
    await closed(srv.sockets[0]!, 2000);
  });

  test('headersTimeoutMs also covers a partial status line that never completes', T, async (t) => {
    const srv = await serve(t, respondingServer(() => 'HTTP/1.1 200 O'));
    const pool = newPool(t, srv.origin, { headersTimeoutMs: 200 });
    const rec = await run(pool, get());
    assert.equal(rec.error?.code, 'UND_ERR_HEADERS_TIMEOUT');
  });

  test('bodyTimeoutMs: headers then a stall -> UND_ERR_BODY_TIMEOUT after the partial body', T, async (t) => {
    const srv = await serve(t, respondingServer(() => 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'));
    const pool = newPool(t, srv.origin, { bodyTimeoutMs: 200 });
    const rec = await run(pool, get());
    assert.deepEqual(rec.violations, []);
    assert.deepEqual(rec.kinds, ['connect', 'headers', 'data', 'error']);
    assert.equal(rec.body.toString(), 'abc');
    assert.equal(rec.error!.code, 'UND_ERR_BODY_TIMEOUT');
    await closed(srv.sockets[0]!, 2000);
  });

  test('keepAliveTimeoutMs: an idle connection is closed by the client', T, async (t) => {
    const srv = await serve(t, respondingServer(() => response('ok')));
    const pool = newPool(t, srv.origin, { keepAliveTimeoutMs: 150 });
    assertOk(await run(pool, get()), 'ok');
    await closed(srv.sockets[0]!, 3000, 'the idle keep-alive connection to be closed by the client');
    assertOk(await run(pool, get()), 'ok');
    assert.equal(srv.connections, 2);
  });

  test('a server that accepts and closes at once: onError UND_ERR_SOCKET (fresh connection, no retry)', T, async (t) => {
    const srv = await serve(t, rawServer((s) => s.destroy()));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    assert.deepEqual(rec.violations, []);
    assert.equal(rec.kinds.at(-1), 'error');
    assert.ok(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'].includes(rec.error!.code!), `code ${rec.error!.code}`);
  });
});

describe('H1Pool: abort', () => {
  test('abort(err) mid-body: onError with that very error, the server sees the socket closed, the pool serves a new request', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, _s, conn) =>
      conn === 0 ? `HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(1000)}` : response('fresh'),
    ));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const err = new Error('client went away');
    const rec = await run(pool, get(), {
      onData(_c, r) {
        setImmediate(() => r.abort!(err));
        return true;
      },
    });
    assert.deepEqual(rec.violations, []);
    assert.equal(rec.kinds.at(-1), 'error');
    assert.equal(rec.error, err);
    await closed(srv.sockets[0]!, 2000);
    assertOk(await run(pool, get()), 'fresh');
  });

  test('abort() without an error: onError UND_ERR_ABORTED', T, async (t) => {
    const srv = await serve(t, respondingServer(() => 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab'));
    const pool = newPool(t, srv.origin);
    const rec = await run(pool, get(), {
      onData(_c, r) {
        setImmediate(() => r.abort!());
        return true;
      },
    });
    assert.equal(rec.error?.code, 'UND_ERR_ABORTED');
  });

  test('abort() inside onConnect: onError, nothing is sent', T, async (t) => {
    const srv = await serve(t, respondingServer(() => response('ok')));
    const pool = newPool(t, srv.origin);
    const err = new Error('already gone');
    const rec = await run(pool, get(), { onConnect: (r) => r.abort!(err) });
    assert.deepEqual(rec.kinds, ['connect', 'error']);
    assert.equal(rec.error, err);
    await sleep(50);
    assert.equal(srv.requests.length, 0);
  });

  test('abort() of a queued request: onError at once, it is never sent, the running one completes', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, s) => {
      setTimeout(() => s.write(response('slow')), 100);
      return null;
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const first = new Recorder();
    const second = new Recorder();
    pool.dispatch(get('/1'), first);
    pool.dispatch(get('/2'), second);
    const err = new Error('never mind');
    second.abort!(err);
    assert.deepEqual(second.kinds, ['connect', 'error']);
    assert.equal(second.error, err);
    await first.finished();
    assertOk(first, 'slow');
    await sleep(50);
    assert.deepEqual(srv.requests.map((r) => r.path), ['/1']);
  });

  test('abort() after onComplete is a no-op; the connection stays reusable', T, async (t) => {
    const srv = await serve(t, respondingServer(() => response('ok')));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const rec = await run(pool, get());
    rec.abort!(new Error('late'));
    assertOk(rec, 'ok');
    assertOk(await run(pool, get()), 'ok');
    assert.equal(srv.connections, 1);
  });

  test('abort() called synchronously inside onData (inside the parser callback): clean error, no crash', T, async () => {
    const r = await inChild('abort-inside-onData');
    assertChildSurvived(r);
    const { first, second, sameError, serverSawClose } = r.result;
    assert.equal(first.kinds.at(-1), 'error');
    assert.deepEqual(first.violations, []);
    assert.equal(sameError, true);
    assert.equal(serverSawClose, true);
    assert.equal(second.body, 'fresh');
  });

  test('abort() called synchronously inside onHeaders: clean error, no crash', T, async () => {
    const r = await inChild('abort-inside-onHeaders');
    assertChildSurvived(r);
    const { first, second, sameError, serverSawClose } = r.result;
    assert.deepEqual(first.kinds, ['connect', 'headers', 'error']);
    assert.deepEqual(first.violations, []);
    assert.equal(sameError, true);
    assert.equal(serverSawClose, true);
    assert.equal(second.body, 'fresh');
  });
});

describe('H1Pool: backpressure', () => {
  test('onData returning false stops onData until resume(); a large body in many writes arrives whole and in order', T, async (t) => {
    const WRITES = 64;
    const SIZE = 16 * 1024;
    const srv = await serve(t, respondingServer((_r, s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${WRITES * SIZE}\r\n\r\n`);
      let i = 0;
      const next = () => {
        if (i === WRITES || s.destroyed) return;
        s.write(pattern(i * SIZE, SIZE));
        i++;
        setImmediate(next);
      };
      next();
      return null;
    }));
    const pool = newPool(t, srv.origin);
    let pauses = 0;
    const rec = await run(pool, get(), {
      onData(_c, r) {
        pauses++;
        setTimeout(() => r.resume(), 1);
        return false;
      },
    }, 10_000);
    assertOk(rec, pattern(0, WRITES * SIZE).toString('latin1'));
    assert.ok(pauses > 1);
  });

  test('onHeaders returning false holds the body until resume()', T, async (t) => {
    const srv = await serve(t, respondingServer(() => response('held body')));
    const pool = newPool(t, srv.origin);
    const rec = new Recorder({ onHeaders: () => false });
    pool.dispatch(get(), rec);
    await until(() => rec.status !== undefined, 2000, 'headers');
    await sleep(50);
    assert.equal(rec.dataCount, 0);
    rec.resume();
    await rec.finished();
    assertOk(rec, 'held body');
  });

  test('a close-delimited body paused by the handler completes after resume()', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, s) => {
      s.end('HTTP/1.1 200 OK\r\n\r\nuntil-close');
      return null;
    }));
    const pool = newPool(t, srv.origin);
    const rec = new Recorder({ onData: () => false });
    pool.dispatch(get(), rec);
    await until(() => rec.dataCount > 0, 2000, 'first data');
    await sleep(50);
    rec.resume();
    await rec.finished();
    assertOk(rec, 'until-close');
  });

  test('a Content-Length response with Connection: close, fully received while paused, then FIN: completes after resume()', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, s) => {
      s.end(response('0123456789', 'Connection: close\r\n'));
      return null;
    }));
    const pool = newPool(t, srv.origin);
    const rec = new Recorder({ onData: () => false });
    pool.dispatch(get(), rec);
    await until(() => rec.dataCount > 0, 2000, 'first data');
    await sleep(50); // the FIN arrives meanwhile
    rec.resume();
    await rec.finished();
    assertOk(rec, '0123456789');
  });

  test('a response that completes while paused leaves a usable connection: the next request on it succeeds', T, async (t) => {
    const srv = await serve(t, respondingServer((r) => (r.index === 0 ? response('0123456789') : response('second'))));
    const pool = newPool(t, srv.origin, { connections: 1, headersTimeoutMs: 1000 });
    const first = await run(pool, get('/1'), {
      onData(_c, r) {
        setTimeout(() => r.resume(), 20);
        return false;
      },
    });
    assertOk(first, '0123456789');
    const second = await run(pool, get('/2'));
    assertOk(second, 'second');
    assert.equal(srv.connections, 1);
  });

  test('a long pause is not counted as upstream body idleness: no UND_ERR_BODY_TIMEOUT right after resume()', T, async (t) => {
    let sock: net.Socket | null = null;
    const srv = await serve(t, respondingServer((_r, s) => {
      sock = s;
      return 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc';
    }));
    const pool = newPool(t, srv.origin, { bodyTimeoutMs: 500 });
    const rec = new Recorder({ onData: (c) => c.toString() !== 'abc' });
    pool.dispatch(get(), rec);
    await until(() => rec.dataCount > 0, 2000, 'first data');
    await sleep(1200); // paused: longer than bodyTimeoutMs, by our choice, not the upstream's
    rec.resume();
    await sleep(250); // well inside bodyTimeoutMs after the resume
    sock!.write('def');
    await rec.finished();
    assertOk(rec, 'abcdef');
  });
});

describe('H1Pool: queueing', () => {
  test('connections: 2, 10 concurrent requests: all complete with their own response, never more than 2 connections', T, async (t) => {
    const srv = await serve(t, httpServer((rq, rs) => setTimeout(() => rs.end(`body of ${rq.url}`), 20)));
    const pool = newPool(t, srv.origin, { connections: 2 });
    const recs = Array.from({ length: 10 }, () => new Recorder());
    recs.forEach((r, i) => pool.dispatch(get(`/r${i}`), r));
    await within(Promise.all(recs.map((r) => r.done)), 8000, 'all 10 requests');
    recs.forEach((r, i) => assertOk(r, `body of /r${i}`));
    assert.ok(srv.maxOpen <= 2, `max concurrent connections ${srv.maxOpen}`);
    assert.ok(srv.connections <= 2, `connections opened ${srv.connections}`);
  });
});

describe('H1Pool: request body lifecycle', () => {
  test('a response that completes before the request body was fully sent does not leave a reusable connection', T, async (t) => {
    const srv = await serve(t, httpServer((rq, rs) => {
      if (rq.url === '/early') rs.end('early'); // answers without reading the body
      else {
        rq.resume();
        rq.on('end', () => rs.end(`second ${rq.method} ${rq.url}`));
      }
    }));
    const pool = newPool(t, srv.origin, { connections: 1, headersTimeoutMs: 1000 });
    const body = new PassThrough();
    body.write('abcde');
    const first = await run(pool, req('POST', '/early', ['host', 'h', 'content-length', '10'], body));
    assertOk(first, 'early');
    body.end('fghij');
    const second = await run(pool, get('/second'));
    assertOk(second, 'second GET /second');
  });

  test('a request body stream error: onError with its code, the connection is closed, the pool keeps serving', T, async (t) => {
    const srv = await serve(t, httpServer((rq, rs) => {
      rq.resume();
      rq.on('end', () => rs.end('ok'));
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const body = new PassThrough();
    body.write('partial');
    const rec = new Recorder();
    pool.dispatch(req('POST', '/up', ['host', 'h'], body), rec);
    await sleep(30);
    body.destroy(Object.assign(new Error('client body broke'), { code: 'ECONNRESET' }));
    await rec.finished();
    assert.deepEqual(rec.kinds, ['connect', 'error']);
    assert.equal(rec.error!.code, 'ECONNRESET');
    await closed(srv.sockets[0]!, 2000);
    assertOk(await run(pool, get()), 'ok');
  });
});

describe('H1Pool: close()', () => {
  test('close() resolves only after the in-flight request completes; later dispatches fail UND_ERR_CLOSED', T, async (t) => {
    const srv = await serve(t, respondingServer((_r, s) => {
      setTimeout(() => s.write(response('late but whole')), 150);
      return null;
    }));
    const pool = newPool(t, srv.origin);
    const rec = new Recorder();
    pool.dispatch(get(), rec);
    await srv.waitConnections(1);
    await within(pool.close(), 4000, 'pool.close()');
    assert.equal(rec.kinds.at(-1), 'complete', 'close() resolved before the in-flight request finished');
    assertOk(rec, 'late but whole');
    const late = new Recorder();
    assert.equal(pool.dispatch(get(), late), false);
    assert.deepEqual(late.kinds, ['error']);
    assert.equal(late.error!.code, 'UND_ERR_CLOSED');
    await closed(srv.sockets[0]!, 2000, 'the idle connection to be closed after close()');
  });

  test('close() with requests still queued: each queued request still ends (served or failed), none is left hanging', T, async (t) => {
    const srv = await serve(t, httpServer((rq, rs) => {
      rs.setHeader('connection', 'close');
      setTimeout(() => rs.end(`done ${rq.url}`), 30);
    }));
    const pool = newPool(t, srv.origin, { connections: 1 });
    const a = new Recorder();
    const b = new Recorder();
    pool.dispatch(get('/a'), a);
    pool.dispatch(get('/b'), b);
    const closing = pool.close();
    await within(Promise.all([a.done, b.done]), 3000, 'both requests to end after close()');
    assertOk(a, 'done /a');
    assert.deepEqual(b.violations, []);
    await within(closing, 2000, 'pool.close()');
  });
});

describe('H1Pool: timeouts while uploading', () => {
  test('an upload that takes longer than headersTimeoutMs is not a headers timeout', T, async (t) => {
    const srv = await serve(t, httpServer((rq, rs) => {
      let n = 0;
      rq.on('data', (c: Buffer) => (n += c.length));
      rq.on('end', () => rs.end(`got ${n}`));
    }));
    const pool = newPool(t, srv.origin, { connections: 1, headersTimeoutMs: 300 });
    const body = new PassThrough();
    const done = run(pool, req('POST', '/slow', ['host', 'h'], body), {}, 6000);
    for (let i = 0; i < 8; i++) {
      body.write('x'.repeat(100));
      await sleep(100); // 800 ms of upload in all, each gap well under the timeout
    }
    body.end();
    assertOk(await done, 'got 800');
  });
});
