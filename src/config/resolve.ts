// A validated config with every default filled in. Plain data only (no class
// instances, no RegExp) so it can be posted to workers with structured clone.
import { availableParallelism } from 'node:os';
import type { EnvOverrides } from './env.js';
import { parseTargetUrl } from './semantic.js';
import {
  DEFAULTS,
  type BalancerName,
  type Config,
  type LogLevelName,
  type RouteConfig,
  type StringMatchConfig,
  type UpstreamConfig,
} from './schema.js';

export interface ResolvedTarget {
  /** Origin only, normalized by `new URL`: `http://host:port`. */
  url: string;
  weight: number;
}

export interface ResolvedUpstream {
  name: string;
  balancer: BalancerName;
  targets: ResolvedTarget[];
  connections: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  keepAliveTimeoutMs: number;
  client: 'wicket' | 'undici';
}

export interface ResolvedMatch {
  path?: string;
  /** Regex source, compiled by the router (no flags). */
  pathRegex?: string;
  /** Upper-case. */
  methods?: string[];
  /** Lower-case host names or `*.suffix` patterns. */
  host?: string[];
  /** Keyed by lower-case header name. */
  headers?: Record<string, StringMatchConfig>;
  query?: Record<string, StringMatchConfig>;
}

export interface ResolvedRoute {
  /** Position in the file's `routes`. */
  index: number;
  name: string;
  priority?: number;
  match: ResolvedMatch;
  /** Exactly one of `upstream` / `respond` is set. */
  upstream?: string;
  respond?: { status: number; headers?: Record<string, string>; body?: string };
  rewrite?: { stripPrefix?: string; addPrefix?: string; regex?: string; replacement?: string };
  preserveHost: boolean;
  /** Route's own limit, else limits.maxBodyBytes. */
  maxBodyBytes: number;
  timeoutMs?: number;
}

export interface ResolvedConfig {
  workers: number;
  listen: { http: { host: string; port: number } };
  admin: { host: string; port: number; token?: string };
  log: { level: LogLevelName; access: boolean };
  limits: {
    maxHeaderBytes: number;
    maxUrlLength: number;
    maxBodyBytes: number;
  };
  supervisor: { drainTimeoutMs: number; restartBackoffMs: number; restartBackoffMaxMs: number };
  upstreams: Record<string, ResolvedUpstream>;
  routes: ResolvedRoute[];
  source: { file: string; loadedAt: string };
}

/** Copies only defined values, so optional keys stay absent rather than `undefined`. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function resolveUpstream(name: string, u: UpstreamConfig): ResolvedUpstream {
  return {
    name,
    balancer: u.balancer ?? 'round-robin',
    targets: u.targets.map((t) => {
      const parsed = parseTargetUrl(t.url);
      return { url: 'origin' in parsed ? parsed.origin : t.url, weight: t.weight ?? 1 };
    }),
    connections: u.connections ?? DEFAULTS.connections,
    connectTimeoutMs: u.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    headersTimeoutMs: u.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
    bodyTimeoutMs: u.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
    keepAliveTimeoutMs: u.keepAliveTimeoutMs ?? DEFAULTS.keepAliveTimeoutMs,
    client: u.client ?? DEFAULTS.client,
  };
}

function resolveRoute(r: RouteConfig, index: number, maxBodyBytes: number): ResolvedRoute {
  const m = r.match;
  const match: ResolvedMatch = defined({
    path: m.path,
    pathRegex: m.pathRegex,
    methods: m.methods && [...new Set(m.methods.map((x) => x.toUpperCase()))],
    host: m.host === undefined ? undefined : (typeof m.host === 'string' ? [m.host] : m.host).map((h) => h.toLowerCase()),
    headers: m.headers && Object.fromEntries(Object.entries(m.headers).map(([k, v]) => [k.toLowerCase(), v])),
    query: m.query && { ...m.query },
  });
  return defined({
    index,
    name: r.name,
    priority: r.priority,
    match,
    upstream: r.upstream,
    respond: r.respond && defined({ ...r.respond, headers: r.respond.headers && { ...r.respond.headers } }),
    rewrite: r.rewrite && { ...r.rewrite },
    preserveHost: r.preserveHost ?? false,
    maxBodyBytes: r.maxBodyBytes ?? maxBodyBytes,
    timeoutMs: r.timeoutMs,
  });
}

export function resolveConfig(cfg: Config, file: string, env: EnvOverrides): ResolvedConfig {
  const maxBodyBytes = cfg.limits?.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
  return {
    workers: env.workers ?? cfg.workers ?? availableParallelism(),
    listen: {
      http: { host: env.httpHost ?? cfg.listen.http.host ?? DEFAULTS.host, port: env.httpPort ?? cfg.listen.http.port },
    },
    admin: defined({
      host: env.adminHost ?? cfg.admin?.host ?? DEFAULTS.adminHost,
      port: env.adminPort ?? cfg.admin?.port ?? DEFAULTS.adminPort,
      token: cfg.admin?.token,
    }),
    log: {
      level: env.logLevel ?? cfg.log?.level ?? DEFAULTS.logLevel,
      access: env.accessLog ?? cfg.log?.access ?? DEFAULTS.accessLog,
    },
    limits: {
      maxHeaderBytes: cfg.limits?.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
      maxUrlLength: cfg.limits?.maxUrlLength ?? DEFAULTS.maxUrlLength,
      maxBodyBytes,
    },
    supervisor: {
      drainTimeoutMs: cfg.supervisor?.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs,
      restartBackoffMs: cfg.supervisor?.restartBackoffMs ?? DEFAULTS.restartBackoffMs,
      restartBackoffMaxMs: cfg.supervisor?.restartBackoffMaxMs ?? DEFAULTS.restartBackoffMaxMs,
    },
    // fromEntries defines own properties, so a name like "__proto__" stays an ordinary key.
    upstreams: Object.fromEntries(Object.entries(cfg.upstreams ?? {}).map(([n, u]) => [n, resolveUpstream(n, u)])),
    routes: cfg.routes.map((r, i) => resolveRoute(r, i, maxBodyBytes)),
    source: { file, loadedAt: new Date().toISOString() },
  };
}
