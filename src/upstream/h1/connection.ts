// One keep-alive HTTP/1.1 connection to an upstream, one request at a time
// (no pipelining). Responses are parsed by node's native llhttp. A response
// that completes releases the connection only after the parser returns, so
// stray bytes after a response are a protocol error, never the next
// request's response.
import net from 'node:net';
import { HTTPParser, type NativeParser } from './http-parser.js';
import type { UpstreamHandler, UpstreamRequest } from '../dispatch-handler.js';
import type { H1Pool } from './pool.js';

export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A request waiting for, or on, a connection. */
export interface Pending {
  readonly req: UpstreamRequest;
  readonly handler: UpstreamHandler;
  retried: boolean;
  /** Set once the request was cancelled (client abort, route timeout). */
  cancelled: boolean;
  conn: H1Connection | null;
}

const enum Phase {
  Connecting,
  Idle,
  AwaitHeaders,
  Body,
  Closed,
}

const BAD_HEADER_VALUE = /[\r\n\0]/;
const PATH = /^[\x21-\x7e]+$/;

export class H1Connection {
  readonly socket: net.Socket;
  readonly #pool: H1Pool;
  readonly #parser: NativeParser;
  phase: Phase = Phase.Connecting;
  /** Coarse time the current phase (or idleness) began: the pool's sweeper reads it. */
  since: number;
  /** Requests completed on this connection (0: fresh). */
  served = 0;
  current: Pending | null = null;
  #keepAlive = false;
  #gotBytes = false;
  #complete = false;
  #paused = false;
  #backlog: Buffer[] | null = null;
  #partialHeaders: string[] | null = null;
  readonly resume = (): void => this.#resume();

  constructor(pool: H1Pool, host: string, port: number, now: number) {
    this.#pool = pool;
    this.since = now;
    const p = new HTTPParser();
    p.initialize(HTTPParser.RESPONSE, {}, 0, 0);
    p[HTTPParser.kOnHeaders] = (headers: string[]) => {
      (this.#partialHeaders ??= []).push(...headers);
    };
    p[HTTPParser.kOnHeadersComplete] = (
      _maj: number, _min: number, headers: string[] | undefined, _m: unknown, _u: unknown,
      status: number, statusText: string, upgrade: boolean, keepAlive: boolean,
    ) => this.#onHeadersComplete(headers, status, statusText, upgrade, keepAlive);
    p[HTTPParser.kOnBody] = (b: Buffer) => this.#onBody(b);
    p[HTTPParser.kOnMessageComplete] = () => {
      this.#complete = true;
    };
    p[HTTPParser.kOnExecute] = () => {};
    this.#parser = p;
    const s = net.connect({ host, port, noDelay: true });
    this.socket = s;
    s.setKeepAlive(true, 60_000);
    s.on('connect', () => pool.onConnected(this));
    s.on('data', (d: Buffer) => this.#onData(d));
    s.on('end', () => this.#onEnd());
    s.on('error', (err: NodeJS.ErrnoException) => this.#fail(new UpstreamError(err.message, err.code ?? 'UND_ERR_SOCKET')));
    s.on('close', () => this.#fail(new UpstreamError('upstream closed the connection', 'UND_ERR_SOCKET')));
  }

  /** Sends `p` on this (idle, connected) connection. */
  send(p: Pending, now: number): void {
    this.current = p;
    p.conn = this;
    this.phase = Phase.AwaitHeaders;
    this.since = now;
    this.#gotBytes = false;
    this.#complete = false;
    this.#keepAlive = false;
    const r = p.req;
    if (!PATH.test(r.path)) return this.#fail(new UpstreamError('invalid request path', 'UND_ERR_INVALID_ARG'), false);
    const h = r.headers;
    let head = `${r.method} ${r.path} HTTP/1.1\r\n`;
    let hasLength = false;
    for (let i = 0; i < h.length; i += 2) {
      const v = h[i + 1]!;
      if (BAD_HEADER_VALUE.test(v)) return this.#fail(new UpstreamError(`invalid value for header ${h[i]}`, 'UND_ERR_INVALID_ARG'), false);
      if (h[i] === 'content-length') hasLength = true;
      head += `${h[i]}: ${v}\r\n`;
    }
    const body = r.body;
    const chunked = body !== null && !hasLength;
    head += chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n';
    const s = this.socket;
    if (body === null) {
      s.write(head, 'latin1');
      return;
    }
    s.write(head, 'latin1');
    const onDrain = () => body.resume();
    body.on('data', (c: Buffer) => {
      if (this.current !== p) return;
      const ok = chunked ? writeChunk(s, c) : s.write(c);
      if (!ok) {
        body.pause();
        s.once('drain', onDrain);
      }
    });
    body.once('end', () => {
      if (this.current === p && chunked) s.write('0\r\n\r\n', 'latin1');
    });
    body.once('error', (err: Error & { code?: string }) => {
      if (this.current === p) this.#fail(new UpstreamError(err.message, err.code ?? 'UND_ERR_REQ_BODY'), false);
    });
  }

  /** Cancels the current request: the connection can't be reused mid-exchange. */
  cancel(err: Error): void {
    const p = this.current;
    if (p === null) return;
    this.current = null;
    p.req.body?.destroy();
    this.#close();
    p.handler.onError(err);
  }

  get paused(): boolean {
    return this.#paused;
  }

  #onHeadersComplete(headers: string[] | undefined, status: number, statusText: string, upgrade: boolean, keepAlive: boolean): number {
    const p = this.current;
    if (p === null || this.#complete || upgrade) {
      this.#fail(new UpstreamError('unexpected data from upstream', 'HPE_UNEXPECTED'), false);
      return 1;
    }
    let raw = headers;
    if (this.#partialHeaders !== null) {
      raw = this.#partialHeaders.concat(headers ?? []);
      this.#partialHeaders = null;
    }
    if (status < 200) return 0; // 1xx: not forwarded, the final response follows
    this.#keepAlive = keepAlive;
    this.phase = Phase.Body;
    this.since = this.#pool.now;
    if (p.handler.onHeaders(status, raw ?? [], this.resume, statusText) === false) this.#pause();
    return p.req.method === 'HEAD' ? 1 : 0;
  }

  #onBody(b: Buffer): void {
    const p = this.current;
    if (p === null) return;
    this.since = this.#pool.now;
    if (this.#backlog !== null) {
      this.#backlog.push(b);
      return;
    }
    if (p.handler.onData(b) === false) this.#pause();
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#backlog ??= [];
    this.socket.pause();
  }

  #resume(): void {
    if (!this.#paused || this.current === null) return;
    const p = this.current;
    const backlog = this.#backlog;
    while (backlog !== null && backlog.length > 0) {
      const b = backlog.shift()!;
      if (p.handler.onData(b) === false) return; // still paused
      if (this.current !== p) return;
    }
    this.#backlog = null;
    this.#paused = false;
    if (this.#complete) this.#finish();
    else this.socket.resume();
  }

  #onData(d: Buffer): void {
    this.#gotBytes = true;
    const r = this.#parser.execute(d);
    if (r instanceof Error) {
      const code = (r as Error & { code?: string }).code ?? 'HPE_INVALID';
      return this.#fail(new UpstreamError(`invalid upstream response (${code})`, code), false);
    }
    if (this.#complete && !this.#paused) this.#finish();
  }

  #onEnd(): void {
    // Close-delimited bodies end here.
    if (this.current !== null && this.phase === Phase.Body) {
      const r = this.#parser.finish();
      if (r instanceof Error) {
        const code = (r as Error & { code?: string }).code ?? 'HPE_INVALID';
        return this.#fail(new UpstreamError(`invalid upstream response (${code})`, code), false);
      }
      this.#keepAlive = false;
      if (this.#complete && !this.#paused) return this.#finish();
    }
    this.socket.end();
  }

  #finish(): void {
    const p = this.current!;
    this.current = null;
    this.#complete = false;
    this.served++;
    const reuse = this.#keepAlive && !this.socket.destroyed && this.socket.readyState === 'open';
    if (!reuse) this.#close();
    else {
      this.phase = Phase.Idle;
      this.since = this.#pool.now;
    }
    p.handler.onComplete(null);
    if (reuse) this.#pool.onIdle(this);
  }

  /** A failure of the connection; the current request fails or is retried. */
  #fail(err: UpstreamError, mayRetry = true): void {
    const p = this.current;
    this.current = null;
    this.#close(err);
    if (p === null) return;
    // A reused keep-alive connection the upstream had just closed: nothing
    // was received, nothing streamed; safe to send once more on a new one.
    if (mayRetry && !this.#gotBytes && this.served > 0 && !p.retried && p.req.body === null) {
      p.retried = true;
      p.conn = null;
      this.#pool.requeue(p);
      return;
    }
    p.req.body?.destroy();
    p.handler.onError(err);
  }

  /** Timeout from the pool's sweeper. */
  timeout(code: string, message: string): void {
    this.#fail(new UpstreamError(message, code), false);
  }

  #close(err: UpstreamError | null = null): void {
    if (this.phase === Phase.Closed) return;
    const wasConnecting = this.phase === Phase.Connecting;
    this.phase = Phase.Closed;
    this.socket.destroy();
    this.#parser.close();
    this.#pool.onClosed(this, wasConnecting, err);
  }

  isIdle(): boolean {
    return this.phase === Phase.Idle;
  }
  isConnecting(): boolean {
    return this.phase === Phase.Connecting;
  }
  isAwaitingHeaders(): boolean {
    return this.phase === Phase.AwaitHeaders;
  }
  isInBody(): boolean {
    return this.phase === Phase.Body;
  }
  markIdle(now: number): void {
    this.phase = Phase.Idle;
    this.since = now;
  }
}

function writeChunk(s: net.Socket, c: Buffer): boolean {
  if (c.length === 0) return true;
  s.cork();
  s.write(`${c.length.toString(16)}\r\n`, 'latin1');
  s.write(c);
  const ok = s.write('\r\n', 'latin1');
  s.uncork();
  return ok;
}
