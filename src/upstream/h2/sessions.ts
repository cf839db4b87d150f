// HTTP/2 sessions to upstream targets: one multiplexed session per target
// origin per worker, opened on first use (h2c prior knowledge for http:,
// ALPN h2 for https:) and replaced once it closes, errs or gets GOAWAY, so a
// restarted upstream is reconnected by the next request.
import http2, { type ClientHttp2Session } from 'node:http2';

export class H2Sessions {
  readonly #sessions = new Map<string, ClientHttp2Session>();

  get(origin: string, connectTimeoutMs: number): ClientHttp2Session {
    const s = this.#sessions.get(origin);
    if (s !== undefined && !s.closed && !s.destroyed) return s;
    const fresh = http2.connect(origin, { settings: { enablePush: false }, peerMaxConcurrentStreams: 1000 });
    const drop = (): void => {
      if (this.#sessions.get(origin) === fresh) this.#sessions.delete(origin);
    };
    // Errors reach the streams that were on the session; the session itself only goes.
    fresh.on('error', drop);
    fresh.on('close', drop);
    fresh.on('goaway', drop);
    // A connect that hangs: the session dies and its pending streams fail.
    const timer = setTimeout(() => {
      if (!fresh.connecting) return;
      drop();
      fresh.destroy(Object.assign(new Error('connect timed out'), { code: 'WICKET_ERR_UPSTREAM_TIMEOUT' }));
    }, connectTimeoutMs);
    timer.unref();
    fresh.once('connect', () => clearTimeout(timer));
    this.#sessions.set(origin, fresh);
    return fresh;
  }

  closeAll(): void {
    for (const s of this.#sessions.values()) s.close();
    this.#sessions.clear();
  }
}

/** The worker's sessions (every cluster with protocol h2 shares them per origin). */
export const h2Sessions = new H2Sessions();
