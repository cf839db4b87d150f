// A compiled route: what the gateway core runs for a request that matched.
// Built once per config version (routing/compile.ts); the hot path does no
// lookups by name. Each phase is an array of the filters that have it, or
// null, so a route without filters pays nothing.
import type { Filter } from '../pipeline/filter.js';
import type { UpstreamDispatcher } from '../upstream/dispatch-handler.js';
import type { ProxyRoute } from '../upstream/proxy.js';
import type { WsRoute } from '../upstream/ws-tunnel.js';
import type { PubSubRoute } from '../features/pubsub/socket.js';
import type { HygieneRules } from '../pipeline/hygiene.js';
import type { Router } from './router.js';

export interface StaticReply {
  readonly status: number;
  readonly headers: readonly string[];
  readonly body: Buffer;
}

/** The route's terminal action, checked against what the listener can do. */
export type RouteAction =
  | { readonly kind: 'reply'; readonly reply: StaticReply }
  | { readonly kind: 'proxy'; readonly proxy: ProxyRoute }
  /** Upgrades are tunnelled; plain requests are proxied like a proxy route's. */
  | { readonly kind: 'websocket'; readonly proxy: ProxyRoute; readonly ws: WsRoute }
  /** Subscribers on the gateway itself (no upstream); only upgrades. */
  | { readonly kind: 'pubsub'; readonly pubsub: PubSubRoute };

export interface CompiledRoute {
  readonly name: string;
  readonly action: RouteAction;
  readonly maxBodyBytes: number;
  /** The whole chain, in order (for onDone and introspection). */
  readonly filters: readonly Filter[];
  readonly onRequest: readonly Filter[] | null;
  /** Chain order: the last filter's wrapper is the outermost (it sees the response first). */
  readonly wrapSink: readonly Filter[] | null;
  /** Reverse chain order. */
  readonly onResponseHeaders: readonly Filter[] | null;
  readonly onDone: readonly Filter[] | null;
}

export interface RouteTable {
  readonly version: number;
  readonly router: Router<CompiledRoute>;
  readonly hygiene: HygieneRules;
  readonly pools: ReadonlySet<UpstreamDispatcher>;
}
