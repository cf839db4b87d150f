// Wicket's HTTP/1.1 upstream pool: keep-alive connections to one origin,
// one request per connection at a time, FIFO queue when all are busy.
// Timeouts (connect, headers, body idle, keep-alive idle) are enforced by one
// sweeper per pool on a coarse clock, so the hot path arms no timers.
import { H1Connection, UpstreamError, type Pending } from './connection.js';
import type { UpstreamDispatcher, UpstreamHandler, UpstreamRequest } from '../dispatch-handler.js';
import type { ResolvedUpstream } from '../../config/load.js';

export type PoolOptions = Pick<
  ResolvedUpstream,
  'connections' | 'connectTimeoutMs' | 'headersTimeoutMs' | 'bodyTimeoutMs' | 'keepAliveTimeoutMs' | 'client' | 'poolWaitMs'
>;
import { buildRequestHead } from './request-head.js';

export type H1PoolOptions = Omit<PoolOptions, 'client'>;

const SWEEP_MS = 100;

export class H1Pool implements UpstreamDispatcher {
  readonly #host: string;
  readonly #port: number;
  readonly #opts: H1PoolOptions;
  readonly #all = new Set<H1Connection>();
  /** Idle, connected: a stack (the warmest connection is reused first). */
  readonly #idle: H1Connection[] = [];
  readonly #queue: Pending[] = [];
  #connecting = 0;
  #closed = false;
  #sweeper: NodeJS.Timeout | null = null;
  /** Coarse clock (ms), refreshed by the sweeper (and when it starts). */
  now = Date.now();

  constructor(origin: string, opts: H1PoolOptions) {
    const u = new URL(origin);
    if (u.protocol !== 'http:') throw new Error(`the wicket HTTP/1.1 client speaks http: only, not ${u.protocol}`);
    this.#host = u.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(u.port || 80);
    this.#opts = opts;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): boolean {
    if (this.#closed) {
      handler.onError(new UpstreamError('pool closed', 'UND_ERR_CLOSED'));
      return false;
    }
    const head = buildRequestHead(req);
    if (typeof head === 'string') {
      handler.onError(new UpstreamError(head, 'UND_ERR_INVALID_ARG'));
      return false;
    }
    const p: Pending = { req, head, handler, retried: false, queuedAt: 0, cancelled: false, conn: null };
    this.#startSweeper();
    // From now on, a failing request body (client gone, too large) cancels
    // the request wherever it is: queued or on a connection.
    req.body?.once('error', (e: Error & { code?: string }) => this.#cancel(p, new UpstreamError(e.message, e.code ?? 'UND_ERR_REQ_BODY')));
    handler.onConnect((err?: Error) => this.#cancel(p, err ?? new UpstreamError('request aborted', 'UND_ERR_ABORTED')));
    if (p.cancelled) return true;
    const conn = this.#idle.pop();
    if (conn !== undefined) conn.send(p, this.now);
    else {
      p.queuedAt = this.now;
      this.#queue.push(p);
      this.#grow();
    }
    return true;
  }

  #cancel(p: Pending, err: Error): void {
    if (p.cancelled) return;
    p.cancelled = true;
    if (p.conn !== null) {
      if (p.conn.current === p) p.conn.cancel(err);
      return;
    }
    const i = this.#queue.indexOf(p);
    if (i >= 0) this.#queue.splice(i, 1);
    p.req.body?.destroy();
    p.handler.onError(err);
  }

  #grow(): void {
    while (this.#queue.length > this.#connecting && this.#all.size < this.#opts.connections) {
      this.#connecting++;
      this.#all.add(new H1Connection(this, this.#host, this.#port, this.now));
    }
  }

  #next(conn: H1Connection): void {
    const p = this.#queue.shift();
    if (p === undefined) {
      conn.markIdle(this.now);
      this.#idle.push(conn);
    } else conn.send(p, this.now);
  }

  // --- connection events ------------------------------------------------------

  onConnected(conn: H1Connection): void {
    this.#connecting--;
    this.#next(conn);
  }

  onIdle(conn: H1Connection): void {
    // After close(), requests already queued are still served; then idle closes.
    if (this.#closed && this.#queue.length === 0) {
      conn.socket.destroy();
      return;
    }
    this.#next(conn);
  }

  onClosed(conn: H1Connection, wasConnecting: boolean, err: UpstreamError | null): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    if (wasConnecting) {
      this.#connecting--;
      // One waiting request fails per failed attempt; the rest try their own.
      const p = err === null ? undefined : this.#queue.shift();
      if (p !== undefined) {
        p.cancelled = true;
        p.req.body?.destroy();
        p.handler.onError(err!);
      }
    }
    this.#grow(); // requests queued before close() are still owed an answer
  }

  requeue(p: Pending): void {
    // Its wait for a connection starts now (it had none queued before: it went straight to an idle one).
    p.queuedAt = this.now;
    this.#queue.unshift(p);
    this.#grow();
  }

  // --- timeouts ----------------------------------------------------------------

  #startSweeper(): void {
    if (this.#sweeper !== null) return;
    this.now = Date.now();
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweeper.unref();
  }

  #sweep(): void {
    const now = (this.now = Date.now());
    const o = this.#opts;
    for (const c of this.#all) {
      const age = now - c.since;
      if (c.isConnecting()) {
        if (age > o.connectTimeoutMs) {
          c.timeout('UND_ERR_CONNECT_TIMEOUT', 'upstream connect timeout');
        }
      } else if (c.isAwaitingHeaders()) {
        if (age > o.headersTimeoutMs) c.timeout('UND_ERR_HEADERS_TIMEOUT', 'upstream headers timeout');
      } else if (c.isInBody()) {
        if (!c.paused && age > o.bodyTimeoutMs) c.timeout('UND_ERR_BODY_TIMEOUT', 'upstream body timeout');
      } else if (c.isIdle() && age > o.keepAliveTimeoutMs) {
        c.socket.destroy();
      }
    }
    // Every connection busy for longer than the upstream allows a wait: answer now (503) rather than queue for seconds.
    const q = this.#queue;
    while (q.length > 0 && o.poolWaitMs > 0 && now - q[0]!.queuedAt > o.poolWaitMs) {
      const p = q.shift()!;
      p.cancelled = true;
      p.req.body?.destroy();
      p.handler.onError(new UpstreamError(`no upstream connection free within ${o.poolWaitMs} ms`, 'WICKET_ERR_UPSTREAM_POOL_EXHAUSTED'));
    }
    if (this.#all.size === 0 && this.#queue.length === 0 && this.#sweeper !== null) {
      clearInterval(this.#sweeper);
      this.#sweeper = null;
    }
  }

  /** Stops taking requests; in-flight ones finish, idle connections close. */
  close(): Promise<void> {
    this.#closed = true;
    for (const c of this.#idle.splice(0)) c.socket.destroy();
    if (this.#all.size === 0 && this.#queue.length === 0) return Promise.resolve();
    this.#grow();
    return new Promise((resolve) => {
      const check = setInterval(() => {
        if (this.#all.size === 0 && this.#queue.length === 0) {
          clearInterval(check);
          if (this.#sweeper !== null) clearInterval(this.#sweeper);
          resolve();
        }
      }, 50);
      check.unref();
    });
  }
}
