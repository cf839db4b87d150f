// One keep-alive HTTP/1.1 connection to an upstream, one request at a time
// (no pipelining). Responses are parsed by node's native llhttp. A response
// that completes releases the connection only after the parser returns, so
// stray bytes after a response are a protocol error, never the next
// request's response.
import net from 'node:net';
import { HTTPParser, type NativeParser } from './http-parser.js';
import type { UpstreamHandler, UpstreamRequest } from '../dispatch-handler.js';
import type { RequestHead } from './request-head.js';

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
  readonly head: RequestHead;
  readonly handler: UpstreamHandler;
  retried: boolean;
  /** The pool's clock when it was queued (0: never queued). */
  queuedAt: number;
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

/** Methods that may be sent again after a connection died before any reply (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** What a connection tells its pool (H1Pool), in the order it happens. */
export interface ConnectionOwner {
  /** The pool's coarse clock (ms). */
  readonly now: number;
  onConnected(c: H1Connection): void;
  onIdle(c: H1Connection): void;
  /** A request the connection could not send: to be tried on another. */
  requeue(p: Pending): void;
  onClosed(c: H1Connection, wasConnecting: boolean, err: Error | null): void;
}

export class H1Connection {
  readonly socket: net.Socket;
  readonly #pool: ConnectionOwner;
  readonly #parser: NativeParser;
  phase: Phase = Phase.Connecting;
  /** Coarse time the current phase (or idleness) began: the pool's sweeper reads it. */
  since: number;
  /** Requests completed on this connection (0: fresh). */
  served = 0;
  current: Pending | null = null;
  #keepAlive = false;
  #gotBytes = false;
  /** The current response is complete (waiting only for a paused handler). */
  #complete = false;
  /** The request body (if any) was written in full: only then may the connection be reused. */
  #bodyDone = true;
  /** A 1xx is being parsed: its message-complete is not the response's. */
  #informational = false;
  #paused = false;
  #backlog: Buffer[] | null = null;
  /** Header pairs delivered before headers-complete (more than 32), or trailers. */
  #partialHeaders: string[] | null = null;
  /** True while llhttp runs: freeing the parser then would free memory in use. */
  #inParser = false;
  readonly resume = (): void => this.#resume();

  constructor(pool: ConnectionOwner, host: string, port: number, now: number) {
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
    p[HTTPParser.kOnMessageComplete] = () => this.#onMessageComplete();
    p[HTTPParser.kOnExecute] = () => {};
    this.#parser = p;
    const s = net.connect({ host, port, noDelay: true });
    this.socket = s;
    s.setKeepAlive(true, 60_000);
    s.on('connect', () => pool.onConnected(this));
    s.on('data', (d: Buffer) => this.#onData(d));
    s.on('end', () => this.#onEnd());
    s.on('error', (err: NodeJS.ErrnoException) => this.#lost(new UpstreamError(err.message, err.code ?? 'UND_ERR_SOCKET')));
    s.on('close', () => this.#lost(new UpstreamError('upstream closed the connection', 'UND_ERR_SOCKET')));
  }

  /** Sends `p` on this (idle, connected) connection. */
  send(p: Pending, now: number): void {
    this.current = p;
    p.conn = this;
    this.phase = Phase.AwaitHeaders;
    this.since = now;
    this.#gotBytes = false;
    this.#complete = false;
    this.#informational = false;
    this.#keepAlive = false;
    this.#partialHeaders = null;
    const s = this.socket;
    s.write(p.head.text, 'latin1');
    const body = p.req.body;
    this.#bodyDone = body === null;
    if (body === null) return;
    const chunked = p.head.chunked;
    const onDrain = () => body.resume();
    body.on('data', (c: Buffer) => {
      if (this.current !== p) return;
      this.since = this.#pool.now; // an upload in progress is not a headers timeout
      const ok = chunked ? writeChunk(s, c) : s.write(c);
      if (!ok) {
        body.pause();
        s.once('drain', onDrain);
      }
    });
    body.once('end', () => {
      if (this.current !== p) return;
      if (chunked) s.write('0\r\n\r\n', 'latin1');
      this.#bodyDone = true;
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

  // --- parser callbacks (run inside execute/finish) ----------------------------

  #onHeadersComplete(headers: string[] | undefined, status: number, statusText: string, upgrade: boolean, keepAlive: boolean): number {
    if (this.phase === Phase.Closed) return -1;
    const p = this.current;
    if (p === null || this.#complete || upgrade) {
      this.#fail(new UpstreamError('unexpected data from upstream', 'HPE_UNEXPECTED'), false);
      return -1; // stop the parser
    }
    let raw = headers ?? [];
    if (this.#partialHeaders !== null) {
      raw = this.#partialHeaders.concat(raw);
      this.#partialHeaders = null;
    }
    if (status < 200) {
      // 1xx: not forwarded; llhttp reports its own message-complete, then the final response follows.
      this.#informational = true;
      return 0;
    }
    this.#keepAlive = keepAlive;
    this.phase = Phase.Body;
    this.since = this.#pool.now;
    if (p.handler.onHeaders(status, raw, this.resume, statusText) === false) this.#pause();
    if (this.#isClosed()) return -1; // the handler aborted
    return p.req.method === 'HEAD' ? 1 : 0;
  }

  #onBody(b: Buffer): void {
    const p = this.current;
    if (p === null || this.phase === Phase.Closed) return;
    this.since = this.#pool.now;
    if (this.#backlog !== null) {
      this.#backlog.push(b);
      return;
    }
    if (p.handler.onData(b) === false) this.#pause();
  }

  #onMessageComplete(): void {
    this.#partialHeaders = null; // trailers are not forwarded
    if (this.#informational) {
      this.#informational = false;
      return;
    }
    this.#complete = true;
  }

  // --- flow control ------------------------------------------------------------

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    this.#backlog ??= [];
    this.socket.pause();
  }

  #resume(): void {
    if (!this.#paused || this.current === null) return;
    const p = this.current;
    this.since = this.#pool.now;
    const backlog = this.#backlog;
    while (backlog !== null && backlog.length > 0) {
      const b = backlog.shift()!;
      if (p.handler.onData(b) === false) return; // still paused
      if (this.current !== p) return;
    }
    this.#backlog = null;
    this.#paused = false;
    this.socket.resume();
    if (this.#complete) this.#finish();
  }

  // --- socket events -----------------------------------------------------------

  #onData(d: Buffer): void {
    this.#gotBytes = true;
    if (!this.#parse(d)) return;
    if (this.#complete && !this.#paused && this.current !== null) this.#finish();
  }

  #onEnd(): void {
    // Close-delimited bodies end here.
    if (this.current !== null && this.phase === Phase.Body && !this.#complete && !this.#parse(null)) return;
    this.#keepAlive = false;
    // A complete response waiting on a paused handler finishes on resume.
    if (this.current !== null && this.#complete) {
      if (!this.#paused) this.#finish();
      return;
    }
    this.socket.end();
  }

  /**
   * Runs llhttp over `d` (null: end of input). False when the connection
   * died meanwhile (a callback failed it or a handler aborted) or the bytes
   * were not HTTP; the parser is freed only here, after llhttp returned.
   */
  #parse(d: Buffer | null): boolean {
    this.#inParser = true;
    const r = d === null ? this.#parser.finish() : this.#parser.execute(d);
    this.#inParser = false;
    if (this.#isClosed()) {
      this.#freeParser();
      return false;
    }
    if (r instanceof Error) {
      // At end of input the bytes were fine but stopped: the upstream closed mid-response (undici says the same).
      if (d === null) this.#fail(new UpstreamError('upstream closed the connection before the response ended', 'UND_ERR_SOCKET'), false);
      else {
        const code = (r as Error & { code?: string }).code ?? 'HPE_INVALID';
        this.#fail(new UpstreamError(`invalid upstream response (${code})`, code), false);
      }
      return false;
    }
    return true;
  }

  /** 'error' or 'close' of the socket. */
  #lost(err: UpstreamError): void {
    if (this.current !== null && this.#complete) {
      // Everything was received; a paused handler still drains the backlog.
      this.#keepAlive = false;
      if (!this.#paused) this.#finish();
      return;
    }
    this.#fail(err);
  }

  #finish(): void {
    const p = this.current!;
    this.current = null;
    this.#complete = false;
    this.served++;
    // An upstream that answered before reading the whole request body gets
    // no more of it, and the connection is not reused (the rest of the body
    // would be read as the next request).
    if (!this.#bodyDone) p.req.body?.destroy();
    const reuse = this.#keepAlive && this.#bodyDone && !this.socket.destroyed && this.socket.readyState === 'open';
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
    // was received, nothing streamed; an idempotent request goes once more.
    if (mayRetry && !this.#gotBytes && this.served > 0 && !p.retried && p.req.body === null && IDEMPOTENT.has(p.req.method)) {
      p.retried = true;
      p.conn = null;
      this.#pool.requeue(p);
      return;
    }
    p.cancelled = true; // one answer per request: a later abort finds nothing to do
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
    // Inside a parser callback the parser is still running: free it after.
    if (!this.#inParser) this.#freeParser();
    this.#pool.onClosed(this, wasConnecting, err);
  }

  #isClosed(): boolean {
    return this.phase === Phase.Closed;
  }

  #parserFreed = false;
  #freeParser(): void {
    if (this.#parserFreed) return;
    this.#parserFreed = true;
    this.#parser.close();
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
