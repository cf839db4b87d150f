// The gateway core: one request path for every listener. A listener builds a
// RequestContext and a Downstream (its sink, body and upgrade) and calls
// handle(); from there on the core does the rest, protocol-free:
//
//   hygiene -> route -> can this listener serve the route's action?
//   -> body -> sink wrappers (wrapSink, onResponseHeaders) -> onRequest chain
//   -> terminal action (reply | proxy | websocket | pubsub) -> done (onDone)
//
// A filter or action that throws fails its own request with
// WICKET_ERR_INTERNAL and is reported; it never reaches the event loop.
import type { RouteTable, CompiledRoute } from '../routing/route.js';
import { Readable } from 'node:stream';
import { ProxyCall, type ProxyRoute } from '../upstream/proxy.js';
import { watchBodyRate } from './body-rate.js';
import { WsTunnel } from '../upstream/ws-tunnel.js';
import { PubSubSocket } from '../features/pubsub/socket.js';
import { topicsAtConnect } from '../features/pubsub/topics.js';
import { GrpcWebSink, grpcWebMode } from '../filters/grpc-web/grpc-web.js';
import type { Downstream, RequestContext, ResponseSink } from './context.js';
import { ERRORS, errorBody, type ErrorCode } from './errors.js';
import type { LocalReply } from './filter.js';
import { grpcFail, isGrpcType } from './grpc.js';
import { HeadSink } from './head-sink.js';
import { checkRequest } from './hygiene.js';
import { reportError } from './report.js';
import { bodyErrorCode } from './whole-body.js';

export interface GatewayHost {
  /** The route table in force (swapped whole on reload; a request keeps the one it started with). */
  table(): RouteTable;
  /** Once per request, at its very end (access log, in-flight count, counters). */
  done(ctx: RequestContext): void;
}

/** An HTTP/1.1 request asking for a WebSocket (on a listener that cannot upgrade, it arrives as a plain request). */
function wantsUpgrade(ctx: RequestContext): boolean {
  const u = ctx.header('upgrade');
  return u !== undefined && u.toLowerCase() === 'websocket';
}

export class Gateway {
  readonly #host: GatewayHost;
  readonly #idPrefix: string;
  #seq = 0;
  readonly #nextId = (): string => this.#idPrefix + (++this.#seq).toString(36);
  /** How proxies and sockets report their exchange's end. */
  readonly #finishFn = (ctx: RequestContext): void => this.#finish(ctx);
  /** How proxies and sockets answer with the gateway's own error. */
  readonly #failFn = (ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void => this.fail(ctx, sink, code);

  constructor(host: GatewayHost) {
    this.#host = host;
    this.#idPrefix = `${process.pid.toString(36)}${Math.floor(Math.random() * 2 ** 32).toString(36)}-`;
  }

  handle(ctx: RequestContext, down: Downstream): void {
    try {
      this.#run(ctx, down);
    } catch (err) {
      this.#threw(ctx, down, err, 'request');
    }
  }

  #run(ctx: RequestContext, down: Downstream): void {
    const table = this.#host.table();
    const li = ctx.listener;
    const bad = checkRequest(ctx, table.hygiene, this.#nextId);
    // gRPC is served over HTTP/2 only (505 below, once routed); its errors, even these, are gRPC statuses.
    const grpcType = isGrpcType(ctx.contentType);
    const grpc = grpcType && li.http2;
    ctx.grpc = grpc;
    if (bad !== null) return this.#refuse(ctx, down, bad);
    const route = table.router.find(ctx);
    if (route === null) return this.#notFound(ctx, down);
    ctx.route = route.name;
    ctx.onDone = route.onDone;
    if (grpcType && !grpc) return this.#refuse(ctx, down, 'WICKET_ERR_HTTP2_REQUIRED');

    const a = route.action;
    const up = down.upgrade;
    if (a.kind === 'pubsub' && up === null) {
      if (wantsUpgrade(ctx)) return this.#refuse(ctx, down, 'WICKET_ERR_UPGRADE_UNSUPPORTED');
      if (!li.http2) ctx.addResponseHeaders(['upgrade', 'websocket']); // RFC 9110 §15.5.22
      return this.#refuse(ctx, down, 'WICKET_ERR_UPGRADE_REQUIRED');
    }
    if (a.kind === 'websocket' && up === null && wantsUpgrade(ctx)) return this.#refuse(ctx, down, 'WICKET_ERR_UPGRADE_UNSUPPORTED');
    if (ctx.hasBody && (a.kind === 'proxy' || (a.kind === 'websocket' && up === null))) {
      if (ctx.contentLength > route.maxBodyBytes) return this.#refuse(ctx, down, 'WICKET_ERR_BODY_TOO_LARGE');
      // Synchronously, still inside the listener's callback (uWS delivers the body only to a handler attached now).
      const body = down.openBody(route.maxBodyBytes, grpc);
      ctx.body = body;
      // gRPC streams may rightly be quiet for long: their limit is per message, not a rate.
      if (!grpc) watchBodyRate(body, table.hygiene.requestBodyMinRate);
    }

    let sink: ResponseSink = down;
    const wraps = route.wrapSink;
    if (wraps !== null) for (const f of wraps) sink = f.wrapSink!(ctx, sink);
    if (route.onResponseHeaders !== null) sink = new HeadSink(ctx, sink, route.onResponseHeaders);
    if (route.onRequest === null) return this.#terminal(ctx, sink, down, route);
    this.#chain(ctx, sink, down, route, 0);
  }

  /** onRequest, filter by filter; an async verdict resumes the chain where it stopped. */
  #chain(ctx: RequestContext, sink: ResponseSink, down: Downstream, route: CompiledRoute, from: number): void {
    const fs = route.onRequest!;
    for (let i = from; i < fs.length; i++) {
      let d;
      try {
        d = fs[i]!.onRequest!(ctx);
      } catch (err) {
        return this.#threw(ctx, sink, err, `filter ${fs[i]!.name} onRequest`);
      }
      if (d === undefined) continue;
      if (d instanceof Promise) {
        d.then(
          (r) => this.#resume(ctx, sink, down, route, i, r),
          (err) => this.#threw(ctx, sink, err, `filter ${fs[i]!.name} onRequest`),
        );
        return;
      }
      return this.#local(ctx, sink, d);
    }
    this.#terminal(ctx, sink, down, route);
  }

  #resume(ctx: RequestContext, sink: ResponseSink, down: Downstream, route: CompiledRoute, i: number, r: LocalReply | undefined): void {
    try {
      if (sink.aborted) return this.#clientGone(ctx);
      if (r !== undefined) return this.#local(ctx, sink, r);
      this.#chain(ctx, sink, down, route, i + 1);
    } catch (err) {
      this.#threw(ctx, sink, err, 'request');
    }
  }

  /** A filter answered: its reply, or the gateway's error. */
  #local(ctx: RequestContext, sink: ResponseSink, d: LocalReply): void {
    ctx.body?.destroy();
    if ('error' in d) return this.#refuse(ctx, sink, d.error);
    ctx.status = d.status;
    ctx.bytesOut = Buffer.byteLength(d.body);
    const extra = ctx.extraHeaders;
    sink.reply(d.status, extra === null ? d.headers : [...d.headers, ...extra], d.body, false);
    this.#finish(ctx);
  }

  #terminal(ctx: RequestContext, sink: ResponseSink, down: Downstream, route: CompiledRoute): void {
    if (sink.aborted) return this.#clientGone(ctx);
    const extra = ctx.extraHeaders;
    const a = route.action;
    switch (a.kind) {
      case 'reply': {
        const r = a.reply;
        ctx.status = r.status;
        ctx.bytesOut = r.body.length;
        sink.reply(r.status, extra === null ? r.headers : [...r.headers, ...extra], r.body, false);
        return this.#finish(ctx);
      }
      case 'pubsub': {
        const topics = topicsAtConnect(ctx, a.pubsub.settings);
        if (topics === null) return this.#refuse(ctx, sink, 'WICKET_ERR_PUBSUB_BAD_TOPIC');
        new PubSubSocket(ctx, a.pubsub, topics, this.#finishFn).upgrade(down.upgrade!);
        return;
      }
      case 'websocket':
        if (down.upgrade !== null) {
          new WsTunnel(ctx, sink, down.upgrade, a.ws, a.proxy, this.#failFn, this.#finishFn).start();
          return;
        }
        break;
      case 'proxy':
        break;
    }
    if (extra !== null) sink.extraHeaders = extra;
    // A small body is read whole first: a slow uploader then holds no upstream connection.
    // A body a filter read (ctx.readBody) goes up as those bytes, whatever its size.
    const p = a.proxy;
    if (ctx.body !== null && !ctx.grpc && (ctx.wholeBody !== null || (ctx.contentLength >= 0 && ctx.contentLength <= p.requestBufferBytes))) return this.#buffered(ctx, sink, p);
    new ProxyCall(ctx, sink, this.#finishFn, this.#failFn).start(p);
  }

  #buffered(ctx: RequestContext, sink: ResponseSink, proxy: ProxyRoute): void {
    ctx.readBody().then(
      (buf) => {
        try {
          if (sink.aborted) return this.#clientGone(ctx);
          ctx.body = Readable.from(buf.length === 0 ? [] : [buf], { objectMode: false });
          new ProxyCall(ctx, sink, this.#finishFn, this.#failFn).start(proxy);
        } catch (err) {
          this.#threw(ctx, sink, err, 'proxy');
        }
      },
      (err: unknown) => {
        try {
          const code = bodyErrorCode(err);
          if (sink.aborted || code === 'WICKET_ERR_CLIENT_ABORTED') return this.#clientGone(ctx);
          this.#refuse(ctx, sink, code);
        } catch (e) {
          this.#threw(ctx, sink, e, 'proxy');
        }
      },
    );
  }

  #notFound(ctx: RequestContext, down: Downstream): void {
    // A gRPC-Web client reads only gRPC-Web: tell it UNIMPLEMENTED in its own terms.
    const mode = grpcWebMode(ctx.contentType);
    if (mode === null) return this.#refuse(ctx, down, 'WICKET_ERR_ROUTE_NOT_FOUND');
    ctx.grpc = true;
    this.#refuse(ctx, new GrpcWebSink(down, mode), 'WICKET_ERR_ROUTE_NOT_FOUND');
  }

  /** The gateway's own error: JSON, or gRPC's trailers-only answer for gRPC and gRPC-Web requests. */
  fail(ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void {
    if (sink.aborted) {
      ctx.errorCode = code;
      return;
    }
    if (ctx.grpc) {
      sink.extraHeaders = ctx.extraHeaders;
      return grpcFail(ctx, sink, code);
    }
    const spec = ERRORS[code];
    ctx.status = spec.status;
    ctx.errorCode = code;
    const body = errorBody(code, ctx.requestId);
    ctx.bytesOut = body.length;
    const headers = ['content-type', 'application/json', 'x-request-id', ctx.requestId];
    if (ctx.retryAfter > 0) headers.push('retry-after', String(ctx.retryAfter));
    const extra = ctx.extraHeaders;
    if (extra !== null) for (const h of extra) headers.push(h);
    sink.reply(spec.status, headers, body, 'close' in spec && spec.close === true);
  }

  #refuse(ctx: RequestContext, sink: ResponseSink, code: ErrorCode): void {
    ctx.body?.destroy();
    this.fail(ctx, sink, code);
    this.#finish(ctx);
  }

  /** The client left while onRequest waited: nobody to answer. */
  #clientGone(ctx: RequestContext): void {
    ctx.body?.destroy();
    ctx.status = 499;
    ctx.errorCode = 'WICKET_ERR_CLIENT_ABORTED';
    this.#finish(ctx);
  }

  /** A bug in a filter or action: this request fails, the worker goes on. */
  #threw(ctx: RequestContext, sink: ResponseSink, err: unknown, where: string): void {
    reportError(err, where, ctx);
    if (ctx.finished) return;
    try {
      ctx.body?.destroy();
      if (!sink.committed && !sink.aborted) this.fail(ctx, sink, 'WICKET_ERR_INTERNAL');
      else {
        ctx.errorCode = 'WICKET_ERR_INTERNAL';
        sink.abort();
      }
    } catch (e) {
      reportError(e, 'internal error reply', ctx);
    }
    this.#finish(ctx);
  }

  /** Once per request: onDone filters, then the host (access log, counts). */
  #finish(ctx: RequestContext): void {
    if (ctx.finished) return;
    ctx.finished = true;
    const fs = ctx.onDone;
    if (fs !== null) {
      for (const f of fs) {
        try {
          f.onDone!(ctx);
        } catch (err) {
          reportError(err, `filter ${f.name} onDone`, ctx);
        }
      }
    }
    this.#host.done(ctx);
  }
}
