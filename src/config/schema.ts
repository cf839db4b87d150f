// The one config schema: TypeBox gives both the TypeScript types and the
// JSON Schema that Ajv validates against and that ships as config/schema.json.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { FILTER_SCHEMAS, FILTER_SECTION_SCHEMAS } from '../filters/schemas.js';

import { Host, Ms, Port, strict } from './schema-parts.js';
import { GlobalRateLimit, RouteRateLimit, type RateLimitAlgorithms } from './schema-rate-limit.js';

export { GlobalRateLimit, Limit, RateLimitAlgorithms, RouteRateLimit } from './schema-rate-limit.js';

export const HttpListen = Type.Object(
  { host: Type.Optional({ ...Host, description: 'Bind address (default 0.0.0.0)' }), port: Port },
  { ...strict, description: 'HTTP/1.1 listener (uWebSockets.js, SO_REUSEPORT in every worker)' },
);

export const H2cListen = Type.Object(
  { host: Type.Optional({ ...Host, description: 'Bind address (default 0.0.0.0)' }), port: Port },
  { ...strict, description: 'Cleartext HTTP/2 with prior knowledge (h2c): node:http2 in every worker; gRPC clients connect here' },
);

export const HttpsListen = Type.Object(
  {
    host: Type.Optional({ ...Host, description: 'Bind address (default 0.0.0.0)' }),
    port: Port,
    cert: Type.String({ minLength: 1, description: 'PEM certificate chain file' }),
    key: Type.String({ minLength: 1, description: 'PEM private key file (never logged)' }),
  },
  { ...strict, description: 'TLS with ALPN h2, HTTP/1.1 fallback on the same port (node:http2 in every worker)' },
);

export const Listen = Type.Object({ http: HttpListen, h2c: Type.Optional(H2cListen), https: Type.Optional(HttpsListen) }, strict);

export const Admin = Type.Object(
  {
    host: Type.Optional({ ...Host, description: 'Bind address (default 127.0.0.1)' }),
    port: Port,
    token: Type.Optional(
      Type.String({ minLength: 16, description: 'Bearer token for admin endpoints other than /healthz' }),
    ),
  },
  { ...strict, description: 'Admin listener, loopback by default' },
);

// `as const` keeps the literal types, so Static<> yields a union rather than `string`.
export const LogLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LogLevel = Type.Union(LogLevels.map((l) => Type.Literal(l)));

export const Log = Type.Object(
  {
    level: Type.Optional(LogLevel),
    access: Type.Optional(Type.Boolean({ description: 'One JSON access-log line per request' })),
    accessFile: Type.Optional(
      Type.String({ minLength: 1, description: 'Write the access log to this file (appended; every worker writes whole lines) instead of stdout; SIGUSR1 to the supervisor reopens it (log rotation)' }),
    ),
  },
  strict,
);

export const Limits = Type.Object(
  {
    maxHeaderBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1048576, description: 'Request line + headers; over it: 431' })),
    maxUrlLength: Type.Optional(Type.Integer({ minimum: 64, maximum: 1048576, description: 'Request target length; over it: 414' })),
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 0, description: 'Request body; over it: 413' })),
    http2MaxConcurrentStreams: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, description: 'HTTP/2 streams open at once per connection (default 100)' })),
    http2MaxResets: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Streams a client may reset per connection in 10 s before the connection is closed with ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487; default 200)' }),
    ),
    maxWebSocketMessageBytes: Type.Optional(
      Type.Integer({ minimum: 125, maximum: 1073741824, description: 'Hard cap of one WebSocket message on any route (default 16 MiB); routes set their own below it' }),
    ),
    encodedSlashes: Type.Optional(
      Type.Union([Type.Literal('keep'), Type.Literal('decode'), Type.Literal('reject')], {
        description: 'Request paths: %2F, %5C and a raw backslash are kept encoded and are not separators (keep, default), decoded to / (decode), or refused with 400 (reject)',
      }),
    ),
    requestBufferBytes: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 67108864, description: 'A request body up to this size is read whole before an upstream connection is taken, so slow uploads hold none (default 65536; 0: always stream)' }),
    ),
    requestBodyMinRate: Type.Optional(
      Type.Object(
        {
          bytesPerSecond: Type.Integer({ minimum: 0, description: 'Slower than this, averaged over the window: 408 and the connection closed (0: off)' }),
          windowMs: Type.Optional(Type.Integer({ minimum: 1000, description: 'Averaging window (default 10000)' })),
        },
        { additionalProperties: false, description: 'Slow request bodies are cut (default 1024 B/s over 10 s); time the gateway itself pauses a body does not count' },
      ),
    ),
    responseBufferBytes: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1073741824, description: 'Per exchange: response bytes held for a slow client before the upstream is paused; an answer that fits is read whole and its upstream connection freed (default 1048576)' }),
    ),
    responseBufferTotalBytes: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Per worker: all such held bytes together; past it slow exchanges pause their upstreams (default 134217728)' }),
    ),
    http1ChunkedBodies: Type.Optional(
      Type.Union([Type.Literal('refuse-from-proxies'), Type.Literal('refuse'), Type.Literal('accept')], {
        description:
          'Chunked request bodies on listen.http, whose parser (uWS v20.30) misreads chunk extensions: refused with 411 from proxies (Via / X-Forwarded-For / Forwarded, or a peer in rateLimit.trustedProxies; default), from everyone, or accepted',
      }),
    ),
  },
  strict,
);

export const Supervisor = Type.Object(
  {
    drainTimeoutMs: Type.Optional(Ms('How long SIGTERM/rolling restart waits for in-flight requests')),
    restartBackoffMs: Type.Optional(Ms('First delay before restarting a dead worker (doubles, capped)')),
    restartBackoffMaxMs: Type.Optional(Ms('Cap on the restart delay')),
    workerSemiSpaceMiB: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 256,
        description:
          "Each worker's V8 young-generation semi-space cap (--max-semi-space-size, default 64; node's own is 16). A proxy's in-flight exchanges survive scavenges: fewer, larger scavenges cost less CPU, at the price of up to 3x this much memory per worker under load (an idle worker gives it back with one full GC)",
      }),
    ),
  },
  strict,
);

export const Target = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', description: 'Origin of the target: http(s)://host:port' }),
    weight: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1000, description: 'Share for weighted balancers; 0 takes no traffic (default 1)' }),
    ),
  },
  strict,
);

export const Balancers = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'p2c-ewma',
  'consistent-hash',
  'random',
] as const;
export const Balancer = Type.Union(Balancers.map((b) => Type.Literal(b)));

export const HealthCheck = Type.Object(
  {
    type: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('tcp')], { description: 'http (GET path, expect status) or tcp (connect); default http' })),
    path: Type.Optional(Type.String({ pattern: '^/', description: 'Path probed with GET (default /)' })),
    host: Type.Optional(Type.String({ minLength: 1, description: 'Host header of probes (default: the target host)' })),
    expectStatus: Type.Optional(
      Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, description: 'Healthy statuses (default: any 2xx or 3xx)' }),
    ),
    intervalMs: Type.Optional(Ms('Time between probes of one target (default 5000)')),
    timeoutMs: Type.Optional(Ms('A probe slower than this fails (default 2000)')),
    healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive passes to come back (default 2)' })),
    unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Consecutive failures to go down (default 3)' })),
  },
  { ...strict, description: 'Active health checks, run once per interval by the supervisor; results are shared with every worker' },
);

export const OutlierDetection = Type.Object(
  {
    consecutiveFailures: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Failures in a row that eject a target (default 5)' })),
    on5xx: Type.Optional(Type.Boolean({ description: 'Count 5xx responses as failures, not only connect errors and resets (default true)' })),
    baseEjectionMs: Type.Optional(Ms('First ejection time; doubles with each ejection (default 30000)')),
    maxEjectionMs: Type.Optional(Ms('Cap on the ejection time (default 300000)')),
  },
  { ...strict, description: 'Passive health: workers eject a failing target for a growing time' },
);

export const CircuitBreaker = Type.Object(
  {
    failureRatio: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Open when failures/requests in the window reach this (0: off; default 0.5)' })),
    consecutiveFailures: Type.Optional(Type.Integer({ minimum: 0, description: 'Open after this many failures in a row (0: off; default 0)' })),
    minRequests: Type.Optional(Type.Integer({ minimum: 1, description: 'Requests the window needs before the ratio counts (default 20)' })),
    windowMs: Type.Optional(Ms('Counting window (tumbling; default 10000)')),
    openMs: Type.Optional(Ms('Time open before trial requests (default 5000)')),
    halfOpenRequests: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Trial requests in half-open; all must pass to close (default 3)' })),
  },
  { ...strict, description: 'Per-upstream circuit breaker shared by all workers; open answers 503 with Retry-After' },
);

export const Upstream = Type.Object(
  {
    balancer: Type.Optional({ ...Balancer, description: 'Target selection (default round-robin)' }),
    hashOn: Type.Optional(
      Type.String({
        pattern: "^(ip|path|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$",
        description: 'consistent-hash key: ip, path, header:NAME or cookie:NAME (default ip)',
      }),
    ),
    healthCheck: Type.Optional(HealthCheck),
    outlierDetection: Type.Optional(OutlierDetection),
    circuitBreaker: Type.Optional(CircuitBreaker),
    panic: Type.Optional(Type.Boolean({ description: 'When no target is healthy, send to all of them instead of answering 503 (default false)' })),
    targets: Type.Array(Target, { description: 'May be empty (or all weight 0): requests then get 503 WICKET_ERR_NO_TARGET' }),
    connections: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'Keep-alive connections per target per worker' })),
    connectTimeoutMs: Type.Optional(Ms('TCP connect timeout; over it: 504')),
    headersTimeoutMs: Type.Optional(Ms('Time to the upstream response headers; over it: 504')),
    bodyTimeoutMs: Type.Optional(Ms('Idle time between upstream body chunks; over it the response is cut')),
    keepAliveTimeoutMs: Type.Optional(Ms('Idle keep-alive upstream connections are closed after this')),
    poolWaitMs: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Longest a request waits for a free connection when all `connections` are busy; then 503 WICKET_ERR_UPSTREAM_POOL_EXHAUSTED (default 1000; 0: no limit; client wicket only)' }),
    ),
    protocol: Type.Optional(
      Type.Union([Type.Literal('http1'), Type.Literal('h2')], {
        description: "http1 (default) or h2: HTTP/2 to the targets (h2c prior knowledge for http:, ALPN for https:), one multiplexed session per target per worker; needed for gRPC",
      }),
    ),
    client: Type.Optional(
      Type.Union([Type.Literal('wicket'), Type.Literal('undici')], {
        description: "HTTP/1.1 client for http: targets: 'wicket' (built in, native llhttp) or 'undici'. https: targets always use undici.",
      }),
    ),
  },
  strict,
);

const StringMatch = Type.Union([
  Type.String({ description: 'Exact value' }),
  Type.Object({ regex: Type.String() }, strict),
  Type.Object({ present: Type.Boolean() }, strict),
]);

export const Match = Type.Object(
  {
    path: Type.Optional(
      Type.String({
        pattern: '^/',
        description: 'Exact (/a/b), parameters (/users/:id), trailing wildcard (/api/*: /api and below)',
      }),
    ),
    pathRegex: Type.Optional(Type.String({ description: 'ECMAScript regex (no flags) tested against the path' })),
    methods: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z]+$' }), { minItems: 1, description: 'HTTP methods (upper-cased on load)' }),
    ),
    host: Type.Optional(
      Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })], {
        description: 'Host name(s); *.example.com matches any subdomain',
      }),
    ),
    headers: Type.Optional(
      Type.Record(Type.String(), StringMatch, { description: 'Request headers by name (case-insensitive)' }),
    ),
    query: Type.Optional(Type.Record(Type.String(), StringMatch, { description: 'Query parameters by name' })),
  },
  strict,
);

export const Respond = Type.Object(
  {
    status: Type.Integer({ minimum: 200, maximum: 599 }),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    body: Type.Optional(Type.String()),
  },
  strict,
);

export const Rewrite = Type.Object(
  {
    stripPrefix: Type.Optional(Type.String({ pattern: '^/' })),
    addPrefix: Type.Optional(Type.String({ pattern: '^/' })),
    regex: Type.Optional(Type.String()),
    replacement: Type.Optional(Type.String()),
  },
  { ...strict, description: 'Path rewrite before proxying: strip, then regex, then add' },
);

export const RetryConditions = ['connect-failure', 'reset', 'timeout', 'gateway-error', '5xx'] as const;

export const Retry = Type.Object(
  {
    attempts: Type.Integer({ minimum: 0, maximum: 10, description: 'Retries after the first try' }),
    on: Type.Optional(
      Type.Array(Type.Union(RetryConditions.map((c) => Type.Literal(c))), {
        minItems: 1,
        description:
          'When to retry: connect-failure, reset (before headers), timeout (per-try or headers timeout), gateway-error (502/503/504 answers, and the three errors before), 5xx (any 5xx, and the errors). Default: connect-failure, reset, gateway-error',
      }),
    ),
    statuses: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { description: 'Further response statuses to retry on' })),
    nonIdempotent: Type.Optional(Type.Boolean({ description: 'Also retry POST, PATCH and other non-idempotent methods (default false)' })),
    perTryTimeoutMs: Type.Optional(Ms('Time to response headers for each try; over it the try fails (timeout)')),
    backoffMs: Type.Optional(Type.Integer({ minimum: 0, description: 'Base of the jittered exponential backoff between tries (default 25)' })),
    budgetRatio: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Retries in flight may be at most this share of the upstream\'s live requests (default 0.2)' })),
    budgetMin: Type.Optional(Type.Integer({ minimum: 0, description: 'Retries in flight always allowed whatever the ratio (default 3)' })),
  },
  { ...strict, description: 'Retries of a failed try on another target. Requests with a body are not retried.' },
);

export const State = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Instance name for the shared-memory segment (default: port-<listen port>)' })),
    targets: Type.Optional(Type.Integer({ minimum: 16, maximum: 65536, description: 'Target slots (default 1024)' })),
    upstreams: Type.Optional(Type.Integer({ minimum: 16, maximum: 65536, description: 'Upstream slots (default 256)' })),
    tableCells: Type.Optional(Type.Integer({ minimum: 1024, maximum: 67108864, description: 'Keyed cells for rate limits, rounded up to a power of two (default 65536)' })),
  },
  { ...strict, description: 'Shared-memory state segment; read at start (changes need a restart)' },
);

export const RouteWebSocket = Type.Object(
  {
    maxMessageBytes: Type.Optional(Type.Integer({ minimum: 125, description: 'Largest message either side may send (default 1 MiB); a bigger one closes with 1009' })),
    idleTimeoutMs: Type.Optional(Type.Integer({ minimum: 0, description: 'No message either way for this long closes both sides with 1001 (default 300000; 0: never)' })),
    maxConnections: Type.Optional(Type.Integer({ minimum: 0, description: 'Open connections on this route across all workers; over it the upgrade gets 503 (default 0: no limit)' })),
    maxBufferedBytes: Type.Optional(
      Type.Integer({ minimum: 1024, description: 'Bytes one side may hold unsent before the other is paused (upstream) or closed with 1013 (client) (default 1 MiB)' }),
    ),
    compression: Type.Optional(Type.Boolean({ description: 'Offer permessage-deflate to the client and the upstream, each hop negotiated on its own (default false)' })),
  },
  { ...strict, description: 'Proxy WebSocket upgrades on this route to the upstream (ws:// to the target)' },
);

// Topic names: dot-separated tokens, so the same name is a valid NATS subject suffix and Redis channel suffix.
export const TOPIC_PATTERN = '^[A-Za-z0-9_~:-]+(\\.[A-Za-z0-9_~:-]+)*$';
export const TOPIC_MAX = 128;

export const RoutePubSub = Type.Object(
  {
    topics: Type.Optional(
      Type.String({
        pattern: '^(param|query):[A-Za-z_][A-Za-z0-9_]*$',
        description: 'Where the topics of a new subscriber come from: param:NAME (a path parameter of match.path, one topic) or query:NAME (a query parameter, comma-separated and/or repeated)',
      }),
    ),
    maxBufferedBytes: Type.Optional(Type.Integer({ minimum: 1024, description: 'Bytes a subscriber may have unsent before the slow policy applies (default 1 MiB)' })),
    slow: Type.Optional(
      Type.Union([Type.Literal('drop'), Type.Literal('skip')], {
        description: "drop: close a subscriber over maxBufferedBytes with 1013 (default); skip: it misses messages while over it and gets later ones once it is below half",
      }),
    ),
    clientSubscribe: Type.Optional(Type.Boolean({ description: 'Subscribers may subscribe/unsubscribe over the socket with {"op":"subscribe","topic":"T"} (default false)' })),
    clientPublish: Type.Optional(Type.Boolean({ description: 'Subscribers may publish to their own topics with {"op":"publish","topic":"T","data":"..."} (default false)' })),
    maxTopics: Type.Optional(Type.Integer({ minimum: 1, maximum: 1024, description: 'Topics one connection may hold (default 16)' })),
    maxMessageBytes: Type.Optional(Type.Integer({ minimum: 125, maximum: 16777216, description: 'Largest client message (protocol frame); bigger closes with 1009 (default 65536)' })),
  },
  { ...strict, description: 'WebSocket fan-out: clients subscribe to topics on the gateway itself; messages come from POST /publish on the admin API, a broker, or clients (clientPublish)' },
);

export const PubSub = Type.Object(
  {
    broker: Type.Optional(
      Type.Object(
        {
          type: Type.Union([Type.Literal('redis'), Type.Literal('nats')], { description: 'redis (PUBLISH / PSUBSCRIBE) or nats (core subjects)' }),
          url: Type.String({ minLength: 1, description: 'redis://[user:pass@]host:port[/db], rediss://..., or nats://[user:pass@]host:port (credentials are never logged)' }),
          channelPrefix: Type.Optional(Type.String({ pattern: '^([A-Za-z0-9_~:-]+[.:])*$', maxLength: 64, description: 'Channel / subject of a topic = prefix + topic (default "wicket.pubsub."; for nats it must end with ".")' })),
        },
        { ...strict, description: 'Across gateways: every publish goes through the broker, every worker of every gateway subscribes to the prefix' },
      ),
    ),
    maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1, maximum: 67108864, description: 'Largest message POST /publish accepts (default 1 MiB); over it: 413' })),
  },
  { ...strict, description: 'WebSocket fan-out settings shared by all pubsub routes' },
);

export const Route = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    priority: Type.Optional(Type.Integer({ description: 'Higher first; routes without it rank by specificity' })),
    match: Match,
    upstream: Type.Optional(Type.String()),
    respond: Type.Optional(Respond),
    rewrite: Type.Optional(Rewrite),
    preserveHost: Type.Optional(Type.Boolean({ description: 'Send the client Host upstream (default: target host)' })),
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    timeoutMs: Type.Optional(Ms('Total time for the upstream exchange, retries included; over it: 504')),
    retry: Type.Optional(Retry),
    rateLimit: Type.Optional(RouteRateLimit),
    websocket: Type.Optional(RouteWebSocket),
    grpcWeb: Type.Optional(
      Type.Object(
        { corsOrigins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: "Origins browsers may call from ('*': any); CORS preflight answered for them (default none)" })) },
        { ...strict, description: 'Translate gRPC-Web (binary and text) to gRPC for this route\'s upstream, which must have protocol h2' },
      ),
    ),
    pubsub: Type.Optional(RoutePubSub),
    // Filters' own keys (src/filters/schemas.ts).
    ...Object.fromEntries(FILTER_SCHEMAS.map((f) => [f.key, Type.Optional(f.schema)])),
  },
  strict,
);

export const ConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'Default: number of CPUs' })),
    listen: Listen,
    admin: Type.Optional(Admin),
    log: Type.Optional(Log),
    limits: Type.Optional(Limits),
    supervisor: Type.Optional(Supervisor),
    state: Type.Optional(State),
    rateLimit: Type.Optional(GlobalRateLimit),
    pubsub: Type.Optional(PubSub),
    // Filters' shared sections (src/filters/schemas.ts).
    ...Object.fromEntries(FILTER_SECTION_SCHEMAS.map((f) => [f.key, Type.Optional(f.schema)])),
    // additionalProperties: a Record with a key pattern otherwise lets non-matching names through unchecked.
    upstreams: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), Upstream, { additionalProperties: false }),
    ),
    routes: Type.Array(Route),
  },
  { ...strict, $id: 'https://wicket.dev/schema/config.json', title: 'Wicket gateway config' },
);

export type Config = Static<typeof ConfigSchema>;
export type RouteConfig = Static<typeof Route>;
export type UpstreamConfig = Static<typeof Upstream>;
export type MatchConfig = Static<typeof Match>;
export type StringMatchConfig = Static<typeof StringMatch>;
export type LogLevelName = Static<typeof LogLevel>;
export type BalancerName = Static<typeof Balancer>;
export type RetryCondition = (typeof RetryConditions)[number];
export type RateLimitAlgorithm = (typeof RateLimitAlgorithms)[number];

export const DEFAULTS = {
  host: '0.0.0.0',
  adminHost: '127.0.0.1',
  adminPort: 9901,
  logLevel: 'info',
  accessLog: true,
  maxHeaderBytes: 16384,
  maxUrlLength: 8192,
  maxBodyBytes: 10 * 1024 * 1024,
  maxWebSocketMessageBytes: 16 * 1024 * 1024,
  http2MaxConcurrentStreams: 100,
  http2MaxResets: 200,
  encodedSlashes: 'keep',
  requestBufferBytes: 65536,
  requestBodyMinRate: { bytesPerSecond: 1024, windowMs: 10_000 },
  responseBufferBytes: 1024 * 1024,
  responseBufferTotalBytes: 128 * 1024 * 1024,
  http1ChunkedBodies: 'refuse-from-proxies',
  websocket: { maxMessageBytes: 1024 * 1024, idleTimeoutMs: 300_000, maxConnections: 0, maxBufferedBytes: 1024 * 1024, compression: false },
  pubsub: { maxBufferedBytes: 1024 * 1024, slow: 'drop', clientSubscribe: false, clientPublish: false, maxTopics: 16, maxMessageBytes: 65536 },
  pubsubChannelPrefix: 'wicket.pubsub.',
  pubsubMaxMessageBytes: 1024 * 1024,
  drainTimeoutMs: 30_000,
  workerSemiSpaceMiB: 64,
  restartBackoffMs: 100,
  restartBackoffMaxMs: 10_000,
  connections: 128,
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  keepAliveTimeoutMs: 4_000,
  poolWaitMs: 1000,
  client: 'wicket',
  stateTargets: 1024,
  stateUpstreams: 256,
  stateTableCells: 65536,
  health: { type: 'http', path: '/', intervalMs: 5000, timeoutMs: 2000, healthyThreshold: 2, unhealthyThreshold: 3 },
  outlier: { consecutiveFailures: 5, on5xx: true, baseEjectionMs: 30_000, maxEjectionMs: 300_000 },
  breaker: { failureRatio: 0.5, consecutiveFailures: 0, minRequests: 20, windowMs: 10_000, openMs: 5000, halfOpenRequests: 3 },
  retry: { on: ['connect-failure', 'reset', 'gateway-error'], backoffMs: 25, budgetRatio: 0.2, budgetMin: 3 },
} as const;

export function schemaJson(): TSchema {
  return ConfigSchema;
}
