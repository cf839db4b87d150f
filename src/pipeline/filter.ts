// The filter contract. A filter is one folder under src/filters/ (schema
// fragment, compile, phases, tests) and one line in src/filters/registry.ts.
// Phases, in the order they happen (response phases run in reverse chain
// order; onDone always runs, once, for every request that reached a route):
//
//   onRequest          continue (undefined) or answer locally; may be async
//   onUpstreamRequest  change the headers sent to the chosen upstream (each try)
//   onResponseHeaders  change status/headers of whatever response goes out
//   wrapSink           wrap the sink: body framing/transforms (gRPC-Web, ...)
//   onDone             access log, metrics, tracing
//
// Compiled once per route per config version; a phase no filter has is null
// on the route, so a route without filters pays nothing.
import type { RequestContext, ResponseSink } from './context.js';
import type { ErrorCode } from './errors.js';
import type { StateStore } from '../state/store.js';
import type { Logger } from '../observability/logger.js';

/** A local answer from onRequest: the gateway's own error, or a reply of the filter's. */
export type LocalReply = { readonly error: ErrorCode } | { readonly status: number; readonly headers: readonly string[]; readonly body: string | Buffer };
/** undefined: continue down the chain. */
export type Decision = LocalReply | undefined;

/** A response's head as filters see it: strings, lower-case names, mutable. */
export interface ResponseHead {
  status: number;
  /** Flat [name, value, ...]; framing headers (content-length, transfer-encoding) are not in it. */
  readonly headers: string[];
}

export interface Filter {
  readonly name: string;
  onRequest?(ctx: RequestContext): Decision | Promise<Decision>;
  /** `headers`: the flat list about to go upstream (Host and forwarding headers included). */
  onUpstreamRequest?(ctx: RequestContext, headers: string[]): void;
  onResponseHeaders?(ctx: RequestContext, head: ResponseHead): void;
  /** Returns `sink` itself when this request needs no wrapping. Runs before onRequest (local replies go through it too). */
  wrapSink?(ctx: RequestContext, sink: ResponseSink): ResponseSink;
  onDone?(ctx: RequestContext): void;
}

/** What compile() may use besides the route's own config. */
export interface FilterEnv {
  readonly store: StateStore;
  /** Worker-wide services by name (e.g. the rate limit's Redis tier); typed by the filter that uses one. */
  readonly services: ReadonlyMap<string, unknown>;
  /** The client's address: the peer, or what trusted proxies (rateLimit.trustedProxies) say. */
  clientIp(ctx: RequestContext): string;
  /** The worker's logger (log.level applies). */
  readonly log: Logger;
}

/** A route as compile() sees it: its name, its target kind, and its config (the filter reads its own key). */
export interface RouteSpec {
  readonly name: string;
  readonly kind: 'reply' | 'proxy' | 'websocket' | 'pubsub';
  /** The upstream's protocol for proxy/websocket routes. */
  readonly upstreamProtocol: 'http1' | 'h2' | null;
  readonly config: Readonly<Record<string, unknown>>;
}

export interface FilterModule {
  /** The route config key the filter owns (its schema fragment: src/filters/schemas.ts). */
  readonly key: string;
  /** Chain position: lower runs first on the request (CORS before auth before rate limits ...). */
  readonly order: number;
  /** null: nothing to do on this route. Throws an Error whose message names the problem for a config it cannot run. */
  compile(route: RouteSpec, env: FilterEnv): Filter | null;
}
