// An HTTP/2 target behind the same dispatcher contract as the HTTP/1.1
// clients (undici's handler shape: onConnect, onHeaders, onData*,
// onComplete(trailers) | onError), so ProxyCall drives every upstream
// protocol alike. Streams ride the worker's one session per origin
// (sessions.ts). gRPC needs nothing special here but `te: trailers` and no
// headers timeout (a server stream may rightly be silent for long); its
// deadline is the call's (proxy.ts).
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader } from 'node:http2';
import type { UpstreamDispatcher, UpstreamHandler, UpstreamRequest } from '../dispatch-handler.js';
import { h2Sessions } from './sessions.js';

/** Request fields HTTP/2 forbids (RFC 9113 §8.2.2) or that become pseudo-headers. */
const DROP = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings']);

export class H2StreamError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A response header object back to a flat list (pseudo-headers left out; Date too: every listener writes its own). */
export function flatHeaders(h: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const k of Object.keys(h)) {
    if (k.charCodeAt(0) === 58 /* : */ || k === 'date') continue;
    const v = h[k];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(k, x);
    else out.push(k, String(v));
  }
  return out;
}

/**
 * A stream error in the terms upstreamErrorCode reads: a session that never
 * connected is a connect failure (node reports it on each pending stream);
 * a connect timeout keeps its code; anything else is a reset.
 */
function classify(err: Error & { code?: string }, responded: boolean): Error & { code?: string } {
  if (err.code === 'WICKET_ERR_UPSTREAM_TIMEOUT') return err;
  if (!responded && /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|connect/i.test(`${err.code ?? ''} ${err.message}`)) return new H2StreamError(err.message, 'ECONNREFUSED');
  return err.code?.startsWith('ERR_HTTP2') ? err : new H2StreamError(err.message, 'ERR_HTTP2_STREAM_ERROR');
}

export interface H2DispatcherOptions {
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
}

export class H2Dispatcher implements UpstreamDispatcher {
  readonly #origin: string;
  readonly #scheme: string;
  readonly #opts: H2DispatcherOptions;

  constructor(origin: string, opts: H2DispatcherOptions) {
    this.#origin = origin;
    this.#scheme = origin.startsWith('https:') ? 'https' : 'http';
    this.#opts = opts;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): boolean {
    new H2Exchange(req, handler, this.#origin, this.#scheme, this.#opts).start();
    return true;
  }

  async close(): Promise<void> {
    // Sessions are the worker's, per origin, closed when the worker exits.
  }
}

class H2Exchange {
  readonly #req: UpstreamRequest;
  readonly #handler: UpstreamHandler;
  readonly #origin: string;
  readonly #scheme: string;
  readonly #opts: H2DispatcherOptions;
  #stream: ClientHttp2Stream | null = null;
  #timer: NodeJS.Timeout | null = null;
  #trailers: string[] | null = null;
  #responded = false;
  #done = false;

  constructor(req: UpstreamRequest, handler: UpstreamHandler, origin: string, scheme: string, opts: H2DispatcherOptions) {
    this.#req = req;
    this.#handler = handler;
    this.#origin = origin;
    this.#scheme = scheme;
    this.#opts = opts;
  }

  start(): void {
    const req = this.#req;
    const headers: Record<string, string> = { ':method': req.method, ':path': req.path, ':scheme': this.#scheme, ':authority': '' };
    let grpc = false;
    const flat = req.headers;
    for (let i = 0; i < flat.length; i += 2) {
      const k = flat[i]!;
      const v = flat[i + 1]!;
      if (k === 'host') {
        headers[':authority'] = v;
        continue;
      }
      if (DROP.has(k)) continue;
      if (k === 'content-type' && v.startsWith('application/grpc')) grpc = true;
      const prev = headers[k];
      headers[k] = prev === undefined ? v : `${prev}${k === 'cookie' ? '; ' : ', '}${v}`;
    }
    if (grpc) headers.te = 'trailers';
    this.#handler.onConnect((err) => this.#abort(err));
    if (this.#done) return;
    let stream: ClientHttp2Stream;
    try {
      stream = h2Sessions.get(this.#origin, this.#opts.connectTimeoutMs).request(headers, { endStream: req.body === null });
    } catch (e) {
      return this.#fail(new H2StreamError((e as Error).message, 'ECONNREFUSED'));
    }
    this.#stream = stream;
    // A plain HTTP exchange has the upstream's headers timeout; a gRPC stream's deadline is the call's.
    if (!grpc && this.#opts.headersTimeoutMs > 0) {
      this.#timer = setTimeout(() => this.#abort(new H2StreamError('upstream headers timeout', 'UND_ERR_HEADERS_TIMEOUT')), this.#opts.headersTimeoutMs);
    }
    stream.on('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => this.#onResponse(h));
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      this.#trailers = flatHeaders(t);
    });
    stream.on('data', (c: Buffer) => {
      if (!this.#done && !this.#handler.onData(c)) stream.pause();
    });
    stream.on('end', () => this.#onEnd());
    stream.on('error', (err: Error & { code?: string }) => this.#fail(classify(err, this.#responded)));
    stream.on('close', () => {
      // Reset by the upstream (RST_STREAM) without an error event, or closed before the end.
      if (!this.#done) this.#fail(new H2StreamError(`upstream stream closed (code ${stream.rstCode})`, 'ERR_HTTP2_STREAM_ERROR'));
    });
    const body = req.body;
    if (body !== null) {
      body.on('data', (c: Buffer) => {
        if (!stream.write(c)) body.pause();
      });
      stream.on('drain', () => body.resume());
      body.once('end', () => stream.end());
      // Too large, or the client went: the upstream stream is cancelled and the call told why.
      body.once('error', (e: Error & { code?: string }) => this.#abort(new H2StreamError(e.message, e.code ?? 'UND_ERR_REQ_BODY')));
    }
  }

  #onResponse(h: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    if (this.#done) return;
    this.#responded = true;
    this.#clearTimer();
    const status = Number(h[':status'] ?? 502);
    this.#handler.onHeaders(status, flatHeaders(h), () => this.#stream?.resume(), '');
  }

  #onEnd(): void {
    if (this.#done) return;
    this.#done = true;
    this.#clearTimer();
    this.#handler.onComplete(this.#trailers);
  }

  /** The call gave up (client gone, timeout, retry): cancel the stream, then tell it. */
  #abort(err?: Error): void {
    if (this.#done) return;
    this.#stream?.close(constants.NGHTTP2_CANCEL);
    this.#fail(err ?? new H2StreamError('request aborted', 'UND_ERR_ABORTED'));
  }

  #fail(err: Error & { code?: string }): void {
    if (this.#done) return;
    this.#done = true;
    this.#clearTimer();
    this.#req.body?.destroy();
    const s = this.#stream;
    if (s !== null && !s.closed) s.close(constants.NGHTTP2_CANCEL);
    this.#handler.onError(err);
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}
