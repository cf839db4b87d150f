// A validated config with every default filled in. Plain data only (no class
// instances, no RegExp) so it can be posted to workers with structured clone.
import { availableParallelism } from 'node:os';
import type { EnvOverrides } from './env.js';
import { FILTER_SCHEMAS, FILTER_SECTION_SCHEMAS } from '../filters/schemas.js';
import { parseTargetUrl } from './semantic.js';
import {
  DEFAULTS,
  type BalancerName,
  type Config,
  type LogLevelName,
  type RetryCondition,
  type RateLimitAlgorithm,
  type RouteConfig,
  type StringMatchConfig,
  type UpstreamConfig,
} from './schema.js';

export interface ResolvedTarget {
  /** Origin only, normalized by `new URL`: `http://host:port`. */
  url: string;
  weight: number;
  /** Shared-state slot, assigned by the supervisor (-1 until then). */
  slot: number;
}

export interface ResolvedHealthCheck {
  type: 'http' | 'tcp';
  path: string;
  host?: string;
  /** Empty: any 2xx or 3xx. */
  expectStatus: number[];
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface ResolvedOutlier {
  consecutiveFailures: number;
  on5xx: boolean;
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export interface ResolvedBreaker {
  failureRatio: number;
  consecutiveFailures: number;
  minRequests: number;
  windowMs: number;
  openMs: number;
  halfOpenRequests: number;
}

export interface ResolvedLimit {
  /** route/name: stable across reloads, the key space of this limit. */
  id: string;
  name: string;
  algorithm: RateLimitAlgorithm;
  limit: number;
  windowMs: number;
  burst: number;
  /** Lower-case parts: ip, route, consumer, header:name. */
  key: string[];
  cost: number;
  costHeader?: string;
  tier: 'local' | 'global';
  onRedisFailure: 'open' | 'closed';
  localShare: number;
  exempt: { ips: string[]; consumers: string[]; headers: Record<string, string> };
}

export interface ResolvedRouteRateLimit {
  headers: 'draft' | 'legacy' | 'both' | 'none';
  limits: ResolvedLimit[];
}

export interface ResolvedRetry {
  attempts: number;
  on: RetryCondition[];
  statuses: number[];
  nonIdempotent: boolean;
  perTryTimeoutMs?: number;
  backoffMs: number;
  budgetRatio: number;
  budgetMin: number;
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
  poolWaitMs: number;
  client: 'wicket' | 'undici';
  /** h2: HTTP/2 sessions to the targets (gRPC), else HTTP/1.1 pools. */
  protocol: 'http1' | 'h2';
  /** consistent-hash key: ip, path, header:NAME (lower-case) or cookie:NAME. */
  hashOn: string;
  healthCheck?: ResolvedHealthCheck;
  outlierDetection?: ResolvedOutlier;
  circuitBreaker?: ResolvedBreaker;
  panic: boolean;
  /** Shared-state slot, assigned by the supervisor (-1 until then). */
  slot: number;
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
  retry?: ResolvedRetry;
  rateLimit?: ResolvedRouteRateLimit;
  websocket?: ResolvedWebSocket;
  grpcWeb?: { corsOrigins: string[] };
  pubsub?: ResolvedPubSubRoute;
  /** Filters' own keys (src/filters/schemas.ts), as written: each filter's compile reads its own. */
  [filterKey: string]: unknown;
}

export interface ResolvedPubSubRoute {
  /** Where a new subscriber's topics come from (null: none at connect). */
  topics: { from: 'param' | 'query'; name: string } | null;
  maxBufferedBytes: number;
  slow: 'drop' | 'skip';
  clientSubscribe: boolean;
  clientPublish: boolean;
  maxTopics: number;
  maxMessageBytes: number;
}

export interface ResolvedPubSub {
  broker?: { type: 'redis' | 'nats'; url: string; channelPrefix: string };
  maxMessageBytes: number;
}

export interface ResolvedWebSocket {
  maxMessageBytes: number;
  idleTimeoutMs: number;
  maxConnections: number;
  maxBufferedBytes: number;
  compression: boolean;
}

export interface ResolvedConfig {
  workers: number;
  listen: {
    http: { host: string; port: number };
    h2c?: { host: string; port: number };
    https?: { host: string; port: number; cert: string; key: string };
  };
  admin: { host: string; port: number; token?: string };
  log: { level: LogLevelName; access: boolean; accessFile?: string };
  limits: {
    maxHeaderBytes: number;
    maxUrlLength: number;
    maxBodyBytes: number;
    maxWebSocketMessageBytes: number;
    http2MaxConcurrentStreams: number;
    http2MaxResets: number;
    encodedSlashes: 'keep' | 'decode' | 'reject';
    requestBufferBytes: number;
    requestBodyMinRate: { bytesPerSecond: number; windowMs: number };
    responseBufferBytes: number;
    responseBufferTotalBytes: number;
    http1ChunkedBodies: 'refuse-from-proxies' | 'refuse' | 'accept';
  };
  supervisor: { drainTimeoutMs: number; restartBackoffMs: number; restartBackoffMaxMs: number; workerSemiSpaceMiB: number };
  state: { name: string; targets: number; upstreams: number; tableCells: number };
  rateLimit: {
    trustedProxies: string[];
    ipv6PrefixLength: number;
    consumerHeader: string;
    redis?: { url: string; deadlineMs: number; keyPrefix: string };
  };
  pubsub: ResolvedPubSub;
  upstreams: Record<string, ResolvedUpstream>;
  routes: ResolvedRoute[];
  /** Filters' shared sections as written (FILTER_SECTION_SCHEMAS), by key. */
  sections: Record<string, unknown>;
  source: { file: string; loadedAt: string };
}

/** Copies only defined values, so optional keys stay absent rather than `undefined`. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function resolveUpstream(name: string, u: UpstreamConfig): ResolvedUpstream {
  return defined({
    name,
    balancer: u.balancer ?? 'round-robin',
    targets: u.targets.map((t) => {
      const parsed = parseTargetUrl(t.url);
      return { url: 'origin' in parsed ? parsed.origin : t.url, weight: t.weight ?? 1, slot: -1 };
    }),
    connections: u.connections ?? DEFAULTS.connections,
    connectTimeoutMs: u.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    headersTimeoutMs: u.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
    bodyTimeoutMs: u.bodyTimeoutMs ?? DEFAULTS.bodyTimeoutMs,
    keepAliveTimeoutMs: u.keepAliveTimeoutMs ?? DEFAULTS.keepAliveTimeoutMs,
    poolWaitMs: u.poolWaitMs ?? DEFAULTS.poolWaitMs,
    client: u.client ?? DEFAULTS.client,
    protocol: u.protocol ?? 'http1',
    hashOn: hashOn(u.hashOn ?? 'ip'),
    healthCheck: u.healthCheck && {
      ...DEFAULTS.health,
      ...defined(u.healthCheck),
      expectStatus: u.healthCheck.expectStatus ? [...u.healthCheck.expectStatus] : [],
    },
    outlierDetection: u.outlierDetection && { ...DEFAULTS.outlier, ...defined(u.outlierDetection) },
    circuitBreaker: u.circuitBreaker && { ...DEFAULTS.breaker, ...defined(u.circuitBreaker) },
    panic: u.panic ?? false,
    slot: -1,
  });
}

/** Header names are matched lower-case; cookie names are case-sensitive. */
function hashOn(s: string): string {
  return s.startsWith('header:') ? s.toLowerCase() : s;
}

function resolveRetry(r: NonNullable<RouteConfig['retry']>): ResolvedRetry {
  return defined({
    attempts: r.attempts,
    on: [...new Set(r.on ?? DEFAULTS.retry.on)],
    statuses: [...(r.statuses ?? [])],
    nonIdempotent: r.nonIdempotent ?? false,
    perTryTimeoutMs: r.perTryTimeoutMs,
    backoffMs: r.backoffMs ?? DEFAULTS.retry.backoffMs,
    budgetRatio: r.budgetRatio ?? DEFAULTS.retry.budgetRatio,
    budgetMin: r.budgetMin ?? DEFAULTS.retry.budgetMin,
  });
}

function filterKeys(r: RouteConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const raw = r as Record<string, unknown>;
  for (const f of FILTER_SCHEMAS) if (raw[f.key] !== undefined) out[f.key] = structuredClone(raw[f.key]);
  return out;
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
    retry: r.retry && resolveRetry(r.retry),
    websocket: r.websocket && { ...DEFAULTS.websocket, ...r.websocket },
    grpcWeb: r.grpcWeb && { corsOrigins: [...(r.grpcWeb.corsOrigins ?? [])] },
    pubsub: r.pubsub && resolvePubSubRoute(r.pubsub),
    ...filterKeys(r),
    rateLimit: r.rateLimit && {
      headers: r.rateLimit.headers ?? 'draft',
      limits: r.rateLimit.limits.map((l, i) => {
        const name = l.name ?? `l${i}`;
        return defined({
          id: `${r.name}/${name}`,
          name,
          algorithm: l.algorithm ?? 'gcra',
          limit: l.limit,
          windowMs: l.windowMs,
          burst: l.burst ?? l.limit,
          key: (l.key ?? ['ip']).map((k) => (k.startsWith('header:') ? k.toLowerCase() : k)),
          cost: l.cost ?? 1,
          costHeader: l.costHeader?.toLowerCase(),
          tier: l.tier ?? 'local',
          onRedisFailure: l.onRedisFailure ?? 'open',
          localShare: l.localShare ?? 1,
          exempt: {
            ips: [...(l.exempt?.ips ?? [])],
            consumers: [...(l.exempt?.consumers ?? [])],
            headers: Object.fromEntries(Object.entries(l.exempt?.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
          },
        });
      }),
    },
  });
}

function resolvePubSubRoute(p: NonNullable<RouteConfig['pubsub']>): ResolvedPubSubRoute {
  const d = DEFAULTS.pubsub;
  const colon = p.topics?.indexOf(':') ?? -1;
  return {
    topics: p.topics === undefined ? null : { from: p.topics.slice(0, colon) as 'param' | 'query', name: p.topics.slice(colon + 1) },
    maxBufferedBytes: p.maxBufferedBytes ?? d.maxBufferedBytes,
    slow: p.slow ?? d.slow,
    clientSubscribe: p.clientSubscribe ?? d.clientSubscribe,
    clientPublish: p.clientPublish ?? d.clientPublish,
    maxTopics: p.maxTopics ?? d.maxTopics,
    maxMessageBytes: p.maxMessageBytes ?? d.maxMessageBytes,
  };
}

export function resolveConfig(cfg: Config, file: string, env: EnvOverrides): ResolvedConfig {
  const maxBodyBytes = cfg.limits?.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
  return {
    workers: env.workers ?? cfg.workers ?? availableParallelism(),
    listen: {
      http: { host: env.httpHost ?? cfg.listen.http.host ?? DEFAULTS.host, port: env.httpPort ?? cfg.listen.http.port },
      ...(cfg.listen.h2c ? { h2c: { host: cfg.listen.h2c.host ?? DEFAULTS.host, port: cfg.listen.h2c.port } } : {}),
      ...(cfg.listen.https ? { https: { ...cfg.listen.https, host: cfg.listen.https.host ?? DEFAULTS.host } } : {}),
    },
    admin: defined({
      host: env.adminHost ?? cfg.admin?.host ?? DEFAULTS.adminHost,
      port: env.adminPort ?? cfg.admin?.port ?? DEFAULTS.adminPort,
      token: cfg.admin?.token,
    }),
    log: {
      level: env.logLevel ?? cfg.log?.level ?? DEFAULTS.logLevel,
      access: env.accessLog ?? cfg.log?.access ?? DEFAULTS.accessLog,
      ...(cfg.log?.accessFile !== undefined ? { accessFile: cfg.log.accessFile } : {}),
    },
    limits: {
      maxHeaderBytes: cfg.limits?.maxHeaderBytes ?? DEFAULTS.maxHeaderBytes,
      maxUrlLength: cfg.limits?.maxUrlLength ?? DEFAULTS.maxUrlLength,
      maxBodyBytes,
      maxWebSocketMessageBytes: cfg.limits?.maxWebSocketMessageBytes ?? DEFAULTS.maxWebSocketMessageBytes,
      http2MaxConcurrentStreams: cfg.limits?.http2MaxConcurrentStreams ?? DEFAULTS.http2MaxConcurrentStreams,
      encodedSlashes: cfg.limits?.encodedSlashes ?? DEFAULTS.encodedSlashes,
      requestBufferBytes: cfg.limits?.requestBufferBytes ?? DEFAULTS.requestBufferBytes,
      requestBodyMinRate: { ...DEFAULTS.requestBodyMinRate, ...cfg.limits?.requestBodyMinRate },
      responseBufferBytes: cfg.limits?.responseBufferBytes ?? DEFAULTS.responseBufferBytes,
      responseBufferTotalBytes: cfg.limits?.responseBufferTotalBytes ?? DEFAULTS.responseBufferTotalBytes,
      http1ChunkedBodies: cfg.limits?.http1ChunkedBodies ?? DEFAULTS.http1ChunkedBodies,
      http2MaxResets: cfg.limits?.http2MaxResets ?? DEFAULTS.http2MaxResets,
    },
    supervisor: {
      drainTimeoutMs: cfg.supervisor?.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs,
      restartBackoffMs: cfg.supervisor?.restartBackoffMs ?? DEFAULTS.restartBackoffMs,
      restartBackoffMaxMs: cfg.supervisor?.restartBackoffMaxMs ?? DEFAULTS.restartBackoffMaxMs,
      workerSemiSpaceMiB: cfg.supervisor?.workerSemiSpaceMiB ?? DEFAULTS.workerSemiSpaceMiB,
    },
    state: {
      name: cfg.state?.name ?? `port-${env.httpPort ?? cfg.listen.http.port}`,
      targets: cfg.state?.targets ?? DEFAULTS.stateTargets,
      upstreams: cfg.state?.upstreams ?? DEFAULTS.stateUpstreams,
      tableCells: 2 ** Math.ceil(Math.log2(cfg.state?.tableCells ?? DEFAULTS.stateTableCells)),
    },
    rateLimit: defined({
      trustedProxies: [...(cfg.rateLimit?.trustedProxies ?? [])],
      ipv6PrefixLength: cfg.rateLimit?.ipv6PrefixLength ?? 64,
      consumerHeader: (cfg.rateLimit?.consumerHeader ?? 'x-consumer-id').toLowerCase(),
      redis: cfg.rateLimit?.redis && {
        url: cfg.rateLimit.redis.url,
        deadlineMs: cfg.rateLimit.redis.deadlineMs ?? 50,
        keyPrefix: cfg.rateLimit.redis.keyPrefix ?? 'wicket',
      },
    }),
    pubsub: defined({
      broker: cfg.pubsub?.broker && {
        type: cfg.pubsub.broker.type,
        url: cfg.pubsub.broker.url,
        channelPrefix: cfg.pubsub.broker.channelPrefix ?? DEFAULTS.pubsubChannelPrefix,
      },
      maxMessageBytes: cfg.pubsub?.maxMessageBytes ?? DEFAULTS.pubsubMaxMessageBytes,
    }),
    // fromEntries defines own properties, so a name like "__proto__" stays an ordinary key.
    upstreams: Object.fromEntries(Object.entries(cfg.upstreams ?? {}).map(([n, u]) => [n, resolveUpstream(n, u)])),
    routes: cfg.routes.map((r, i) => resolveRoute(r, i, maxBodyBytes)),
    sections: Object.fromEntries(FILTER_SECTION_SCHEMAS.filter((f) => (cfg as Record<string, unknown>)[f.key] !== undefined).map((f) => [f.key, structuredClone((cfg as Record<string, unknown>)[f.key])])),
    source: { file, loadedAt: new Date().toISOString() },
  };
}
