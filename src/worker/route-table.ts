// Compiles a config version into a route table: each route holds its own
// action (static reply or proxy with its cluster), so the hot path does no
// lookups by name. A new config builds a new table that is swapped in whole;
// requests in flight keep the table they started with.
import type { UpstreamDispatcher } from '../upstream/dispatch-handler.js';
import type { ResolvedConfig } from '../config/load.js';
import { Router, compileMatchers } from '../routing/router.js';
import { Cluster } from '../upstream/cluster.js';
import type { PoolRegistry } from '../upstream/pools.js';
import type { ProxyRoute } from '../upstream/proxy.js';
import type { StateStore } from '../state/store.js';
import { RouteRateLimit, rateLimitEnv, type GlobalTier } from '../features/rate-limit/feature.js';
import { RouteConnections } from '../features/websocket/connections.js';
import type { WsRoute } from '../listeners/uws/ws-tunnel.js';
import type { PubSubRoute } from '../listeners/uws/pubsub-socket.js';
import type { PubSubHub } from '../features/pubsub/hub.js';

export interface StaticReply {
  readonly status: number;
  readonly headers: readonly string[];
  readonly body: Buffer;
}

export interface CompiledRoute {
  readonly name: string;
  /** onRequest: the route's limits, null when it has none. */
  readonly rateLimit: RouteRateLimit | null;
  readonly reply: StaticReply | null;
  readonly proxy: ProxyRoute | null;
  readonly maxBodyBytes: number;
  /** Proxied WebSocket upgrades (null: an upgrade is an ordinary request here). */
  readonly websocket: WsRoute | null;
  /** gRPC-Web translation to the route's HTTP/2 upstream, with the CORS origins allowed (null: off). */
  readonly grpcWeb: { readonly corsOrigins: readonly string[] } | null;
  /** WebSocket fan-out: subscribers on the gateway itself (no upstream). */
  readonly pubsub: PubSubRoute | null;
}

export interface RouteTable {
  readonly version: number;
  readonly router: Router<CompiledRoute>;
  readonly pools: ReadonlySet<UpstreamDispatcher>;
}

export function compileRewrite(rw: { stripPrefix?: string; addPrefix?: string; regex?: string; replacement?: string } | undefined): ((p: string) => string) | null {
  if (!rw || (rw.stripPrefix === undefined && rw.addPrefix === undefined && rw.regex === undefined)) return null;
  const strip = rw.stripPrefix?.replace(/\/$/, '');
  const re = rw.regex === undefined ? null : new RegExp(rw.regex);
  const replacement = rw.replacement ?? '';
  const add = rw.addPrefix?.replace(/\/$/, '');
  return (path: string): string => {
    let p = path;
    if (strip !== undefined && (p === strip || p.startsWith(strip + '/'))) p = p.slice(strip.length) || '/';
    if (re !== null) p = p.replace(re, replacement);
    if (add !== undefined) p = add + (p.startsWith('/') ? p : '/' + p);
    return p.startsWith('/') ? p : '/' + p;
  };
}

export function buildRouteTable(
  config: ResolvedConfig,
  version: number,
  pools: PoolRegistry,
  store: StateStore,
  global: GlobalTier | null = null,
  workerSlot = 0,
  hub: PubSubHub | null = null,
): RouteTable {
  const limitsEnv = rateLimitEnv(config, store, global);
  const clusters = new Map<string, Cluster>();
  for (const [name, u] of Object.entries(config.upstreams)) {
    if (u.slot < 0 || u.targets.some((t) => t.slot < 0)) throw new Error(`upstream ${name} has no shared-state slots (config not from the supervisor)`);
    clusters.set(name, new Cluster(u, pools, store));
  }
  const used = new Set<UpstreamDispatcher>();
  for (const c of clusters.values()) for (const t of c.targets) used.add(t.pool);

  const routes = config.routes.map((r) => {
    let reply: StaticReply | null = null;
    let proxy: ProxyRoute | null = null;
    if (r.pubsub) {
      // Neither a reply nor a proxy: the listener upgrades it itself.
      if (hub === null) throw new Error(`route ${r.name}: pubsub routes need the worker's hub`);
    } else if (r.respond) {
      const headers: string[] = [];
      for (const [k, v] of Object.entries(r.respond.headers ?? {})) headers.push(k.toLowerCase(), v);
      reply = { status: r.respond.status, headers, body: Buffer.from(r.respond.body ?? '') };
    } else {
      proxy = {
        cluster: clusters.get(r.upstream!)!,
        rewrite: compileRewrite(r.rewrite),
        preserveHost: r.preserveHost ?? false,
        timeoutMs: r.timeoutMs ?? 0,
        retry: r.retry ?? null,
      };
    }
    const value: CompiledRoute = {
      name: r.name,
      rateLimit: r.rateLimit ? new RouteRateLimit(r.name, r.rateLimit, limitsEnv) : null,
      reply,
      proxy,
      maxBodyBytes: r.maxBodyBytes ?? config.limits.maxBodyBytes,
      grpcWeb: r.grpcWeb && proxy !== null ? { corsOrigins: r.grpcWeb.corsOrigins } : null,
      pubsub: r.pubsub && hub !== null ? { settings: r.pubsub, group: hub.group(r.name, r.pubsub), hub } : null,
      websocket: r.websocket && proxy !== null ? { settings: r.websocket, conns: new RouteConnections(store.table, r.name, workerSlot, r.websocket.maxConnections) } : null,
    };
    return { priority: r.priority ?? 0, index: r.index, matchers: compileMatchers(r.match), value };
  });
  return { version, router: new Router(routes), pools: used };
}
