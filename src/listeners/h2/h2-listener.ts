// HTTP/2 on node:http2 (uWS v20.30 has none): cleartext h2c with prior
// knowledge, and TLS with ALPN h2 plus HTTP/1.1 on the same port. An
// adapter: each request becomes a RequestContext and a sink (the core's
// Downstream) and goes to the gateway core, like the uWS listener's. HTTP/2
// streams are taken from the core 'stream' event (node's compatibility
// objects are not made); HTTP/1.1 on the TLS port comes as node:http's
// 'request'. The servers listen the ordinary
// cluster way (the supervisor shares the port with every worker).
//
// Limits: max concurrent streams and header list size are HTTP/2 SETTINGS
// enforced by nghttp2; rapid reset (CVE-2023-44487) is counted here: a
// connection whose client resets more than `maxResets` streams in 10 s gets
// GOAWAY(ENHANCE_YOUR_CALM) and is closed.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import http2, {
  constants,
  type Http2SecureServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import { RequestContext, type ListenerInfo } from '../../pipeline/context.js';
import type { ListenerHost } from '../host.js';
import { H2Sink, Http1Sink, resetByGateway, type StreamWatch } from './sink.js';

export interface H2ListenerOptions {
  h2c?: { host: string; port: number };
  https?: { host: string; port: number; cert: string; key: string };
  maxHeaderBytes: number;
  maxConcurrentStreams: number;
  maxResets: number;
}

const RESET_WINDOW_MS = 10_000;
const NON_ASCII = /[^\x00-\x7f]/;
const H2C: ListenerInfo = { name: 'h2c', scheme: 'http', http2: true, upgrade: false, looseChunked: false };
const TLS_H2: ListenerInfo = { name: 'https-h2', scheme: 'https', http2: true, upgrade: false, looseChunked: false };
const TLS_H1: ListenerInfo = { name: 'https-h1', scheme: 'https', http2: false, upgrade: false, looseChunked: false };
/** One client connection: its address (read once) and its rapid-reset count. */
class SessionState implements StreamWatch {
  readonly remote: string;
  readonly #session: ServerHttp2Session;
  readonly #max: number;
  #windowStart = Date.now();
  #resets = 0;

  constructor(session: ServerHttp2Session, max: number) {
    this.#session = session;
    this.#max = max;
    this.remote = session.socket?.remoteAddress ?? '';
  }

  /** A stream that closed with an error code the gateway did not send: the client reset it. */
  closed(stream: ServerHttp2Stream): void {
    if (stream.rstCode === constants.NGHTTP2_NO_ERROR || resetByGateway.has(stream)) return;
    const now = Date.now();
    if (now - this.#windowStart > RESET_WINDOW_MS) {
      this.#windowStart = now;
      this.#resets = 0;
    }
    if (++this.#resets > this.#max && !this.#session.destroyed) {
      // destroy(err, code) sends GOAWAY with that code and drops the connection.
      this.#session.destroy(new Error('rapid reset'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }
}

export class H2Listener {
  readonly #opts: H2ListenerOptions;
  readonly #host: ListenerHost;
  readonly #servers: (Http2Server | Http2SecureServer)[] = [];
  readonly #sessions = new Map<ServerHttp2Session, SessionState>();

  constructor(opts: H2ListenerOptions, host: ListenerHost) {
    this.#opts = opts;
    this.#host = host;
  }

  async listen(): Promise<void> {
    const o = this.#opts;
    const settings = { maxConcurrentStreams: o.maxConcurrentStreams, maxHeaderListSize: o.maxHeaderBytes, enablePush: false };
    const common = { settings, maxHeaderListPairs: 256, maxSessionMemory: 10 };
    if (o.h2c) {
      const s = http2.createServer(common);
      this.#serve(s, H2C);
      await listenOn(s, o.h2c.host, o.h2c.port);
      this.#servers.push(s);
    }
    if (o.https) {
      const s = http2.createSecureServer({ ...common, cert: readFileSync(o.https.cert), key: readFileSync(o.https.key), allowHTTP1: true });
      // HTTP/1.1 clients (ALPN http/1.1) arrive as 'request'. Adding that
      // listener makes node set up its compatibility layer for HTTP/2 streams
      // too (a 'stream' listener of its own): take it off, streams are ours.
      s.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onHttp1(req, res));
      for (const l of s.listeners('stream')) s.off('stream', l as (...a: unknown[]) => void);
      this.#serve(s, TLS_H2);
      await listenOn(s, o.https.host, o.https.port);
      this.#servers.push(s);
    }
  }

  /** Stops accepting; open sessions get GOAWAY and finish their streams. */
  close(): void {
    for (const s of this.#servers) s.close();
    for (const s of this.#sessions.keys()) s.close();
  }

  /** HTTP/2 streams, per-session state, and no unhandled session errors. */
  #serve(server: Http2Server | Http2SecureServer, info: ListenerInfo): void {
    const max = this.#opts.maxResets;
    server.on('session', (session: ServerHttp2Session) => {
      session.on('error', () => {});
      this.#sessions.set(session, new SessionState(session, max));
      session.once('close', () => this.#sessions.delete(session));
    });
    server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => this.#onStream(stream, headers, raw, info));
    server.on('sessionError', () => {});
    server.on('tlsClientError', () => {});
  }

  #onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, raw: string[], info: ListenerInfo): void {
    this.#host.begin();
    const ctx = new RequestContext(performance.now());
    ctx.listener = info;
    const session = stream.session as ServerHttp2Session;
    const st = this.#sessions.get(session) ?? new SessionState(session, this.#opts.maxResets);
    const sink = new H2Sink(stream, st);
    if (headers[':method'] === 'HEAD') sink.head = true;
    ctx.method = headers[':method'] ?? 'GET';
    let bytes = 0;
    // Names arrive lower-case (HTTP/2 forbids anything else; nghttp2 enforces it).
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      const v = raw[i + 1]!;
      bytes += k.length + v.length + 4;
      if (k.charCodeAt(0) === 58 /* : */) continue;
      ctx.headers.push(k, v);
      if (k === 'expect' && v.toLowerCase() === '100-continue') sink.expectContinue = true;
    }
    ctx.headerBytes = bytes;
    ctx.remoteAddress = st.remote;
    ctx.host = headers[':authority'] ?? '';
    ctx.hasBody = !stream.endAfterHeaders;
    const path = headers[':path'] ?? '';
    // node hands :path over as latin1; uWS decodes targets as UTF-8: the same bytes must route the same.
    splitTarget(ctx, NON_ASCII.test(path) ? Buffer.from(path, 'latin1').toString('utf8') : path);
    this.#host.gateway.handle(ctx, sink);
  }

  /** HTTP/1.1 on the TLS port (ALPN http/1.1): node:http parsed it. */
  #onHttp1(req: IncomingMessage, res: ServerResponse): void {
    this.#host.begin();
    const ctx = new RequestContext(performance.now());
    ctx.listener = TLS_H1;
    const sink = new Http1Sink(req, res, this.#host.draining());
    if (req.method === 'HEAD') sink.head = true;
    ctx.method = req.method ?? 'GET';
    const raw = req.rawHeaders;
    let bytes = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      bytes += k.length + raw[i + 1]!.length + 4;
      ctx.headers.push(k.toLowerCase(), raw[i + 1]!);
    }
    ctx.headerBytes = bytes;
    ctx.remoteAddress = req.socket?.remoteAddress ?? '';
    splitTarget(ctx, req.url ?? '');
    this.#host.gateway.handle(ctx, sink);
  }
}

/** path?query -> ctx.target, ctx.query (the core checks and normalizes both). */
function splitTarget(ctx: RequestContext, url: string): void {
  const q = url.indexOf('?');
  if (q < 0) ctx.target = url;
  else {
    ctx.target = url.slice(0, q);
    ctx.query = url.slice(q + 1);
  }
}

function listenOn(s: Http2Server | Http2SecureServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, host, () => {
      s.off('error', reject);
      resolve();
    });
  });
}
