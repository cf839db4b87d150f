// Compiles a config version into a route table: each route holds its action
// (static reply, proxy with its cluster, WebSocket tunnel, pub/sub) and its
// filter chain split into phase arrays, so the hot path does no lookups by
// name. A new config builds a new table that is swapped in whole; requests
// in flight keep the table they started with.
import type { UpstreamDispatcher } from '../upstream/dispatch-handler.js';
import type { ResolvedConfig, ResolvedRoute } from '../config/load.js';
import { Router, compileMatchers } from './router.js';
import { Cluster } from '../upstream/cluster.js';
import type { PoolRegistry } from '../upstream/pools.js';
import { responseBuffers, type ProxyRoute } from '../upstream/proxy.js';
import type { StateStore } from '../state/store.js';
import type { Logger } from '../observability/logger.js';
import { RouteConnections } from '../features/websocket/connections.js';
import type { PubSubHub } from '../features/pubsub/hub.js';
import { blockList, requestClientAddress } from '../features/rate-limit/client-ip.js';
import type { Filter, FilterEnv, RouteSpec } from '../pipeline/filter.js';
import { FILTERS } from '../filters/registry.js';
import type { CompiledRoute, RouteAction, RouteTable } from './route.js';

export type { CompiledRoute, RouteTable, StaticReply } from './route.js';

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

export interface CompileEnv {
  readonly pools: PoolRegistry;
  readonly store: StateStore;
  /** Worker-wide services filters may use (FilterEnv.services). */
  readonly services: ReadonlyMap<string, unknown>;
  readonly workerSlot: number;
  readonly hub: PubSubHub | null;
  readonly log: Logger;
}

const nonNull = (a: Filter[]): readonly Filter[] | null => (a.length === 0 ? null : a);

/** The route's filters, in registry order, each compiled from the route's own config. */
export function compileFilters(spec: RouteSpec, env: FilterEnv): Filter[] {
  const out: Filter[] = [];
  for (const m of FILTERS) {
    let f: Filter | null;
    try {
      f = m.compile(spec, env);
    } catch (err) {
      throw new Error(`route ${spec.name}: ${m.key}: ${(err as Error).message}`);
    }
    if (f !== null) out.push(f);
  }
  return out;
}

export function buildRouteTable(config: ResolvedConfig, version: number, env: CompileEnv): RouteTable {
  const clusters = new Map<string, Cluster>();
  for (const [name, u] of Object.entries(config.upstreams)) {
    if (u.slot < 0 || u.targets.some((t) => t.slot < 0)) throw new Error(`upstream ${name} has no shared-state slots (config not from the supervisor)`);
    clusters.set(name, new Cluster(u, env.pools, env.store));
  }
  const used = new Set<UpstreamDispatcher>();
  for (const c of clusters.values()) for (const t of c.targets) used.add(t.pool);
  const trusted = blockList(config.rateLimit.trustedProxies);
  const filterEnv: FilterEnv = { store: env.store, services: env.services, clientIp: (ctx) => requestClientAddress(ctx, trusted), log: env.log };
  responseBuffers.limit = config.limits.responseBufferTotalBytes;
  const actionEnv = { ...env, requestBufferBytes: config.limits.requestBufferBytes, responseBufferBytes: config.limits.responseBufferBytes };

  const routes = config.routes.map((r) => {
    const kind: RouteSpec['kind'] = r.pubsub ? 'pubsub' : r.respond ? 'reply' : r.websocket ? 'websocket' : 'proxy';
    const cluster = r.upstream === undefined ? null : clusters.get(r.upstream)!;
    const spec: RouteSpec = { name: r.name, kind, upstreamProtocol: cluster?.protocol ?? null, config: r as unknown as Record<string, unknown> };
    const filters = compileFilters(spec, filterEnv);
    const action = compileAction(r, kind, cluster, filters, actionEnv);
    const value: CompiledRoute = {
      name: r.name,
      action,
      maxBodyBytes: r.maxBodyBytes ?? config.limits.maxBodyBytes,
      filters,
      onRequest: nonNull(filters.filter((f) => f.onRequest !== undefined)),
      wrapSink: nonNull(filters.filter((f) => f.wrapSink !== undefined)),
      onResponseHeaders: nonNull(filters.filter((f) => f.onResponseHeaders !== undefined).reverse()),
      onDone: nonNull(filters.filter((f) => f.onDone !== undefined)),
    };
    return { priority: r.priority ?? 0, index: r.index, matchers: compileMatchers(r.match, config.limits.encodedSlashes), value };
  });
  const l = config.limits;
  return {
    version,
    router: new Router(routes),
    hygiene: {
      maxHeaderBytes: l.maxHeaderBytes,
      maxUrlLength: l.maxUrlLength,
      encodedSlashes: l.encodedSlashes,
      http1ChunkedBodies: l.http1ChunkedBodies,
      trustedProxies: trusted,
      requestBodyMinRate: l.requestBodyMinRate,
    },
    pools: used,
  };
}

function compileAction(r: ResolvedRoute, kind: RouteSpec['kind'], cluster: Cluster | null, filters: readonly Filter[], env: CompileEnv & { requestBufferBytes: number; responseBufferBytes: number }): RouteAction {
  if (kind === 'pubsub') {
    const hub = env.hub;
    if (hub === null) throw new Error(`route ${r.name}: pubsub routes need the worker's hub`);
    return { kind, pubsub: { settings: r.pubsub!, group: hub.group(r.name, r.pubsub!), hub } };
  }
  if (kind === 'reply') {
    const headers: string[] = [];
    for (const [k, v] of Object.entries(r.respond!.headers ?? {})) headers.push(k.toLowerCase(), v);
    return { kind, reply: { status: r.respond!.status, headers, body: Buffer.from(r.respond!.body ?? '') } };
  }
  const upstream = filters.filter((f) => f.onUpstreamRequest !== undefined);
  const proxy: ProxyRoute = {
    cluster: cluster!,
    rewrite: compileRewrite(r.rewrite),
    preserveHost: r.preserveHost ?? false,
    timeoutMs: r.timeoutMs ?? 0,
    retry: r.retry ?? null,
    onUpstreamRequest: upstream.length === 0 ? null : upstream,
    requestBufferBytes: env.requestBufferBytes,
    responseBufferBytes: env.responseBufferBytes,
  };
  if (kind === 'proxy') return { kind, proxy };
  return { kind: 'websocket', proxy, ws: { settings: r.websocket!, conns: new RouteConnections(env.store.table, r.name, env.workerSlot, r.websocket!.maxConnections) } };
}
