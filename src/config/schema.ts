// The one config schema: TypeBox gives both the TypeScript types and the
// JSON Schema that Ajv validates against and that ships as config/schema.json.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;
const Port = Type.Integer({ minimum: 0, maximum: 65535 });
const Host = Type.String({ minLength: 1 });
const Ms = (description: string, def?: number) =>
  Type.Integer({ minimum: 1, description, ...(def === undefined ? {} : { default: def }) });

export const HttpListen = Type.Object(
  { host: Type.Optional({ ...Host, description: 'Bind address (default 0.0.0.0)' }), port: Port },
  { ...strict, description: 'HTTP/1.1 listener (uWebSockets.js, SO_REUSEPORT in every worker)' },
);

export const Listen = Type.Object({ http: HttpListen }, strict);

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
  },
  strict,
);

export const Limits = Type.Object(
  {
    maxHeaderBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 1048576, description: 'Request line + headers; over it: 431' })),
    maxUrlLength: Type.Optional(Type.Integer({ minimum: 64, maximum: 1048576, description: 'Request target length; over it: 414' })),
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 0, description: 'Request body; over it: 413' })),
  },
  strict,
);

export const Supervisor = Type.Object(
  {
    drainTimeoutMs: Type.Optional(Ms('How long SIGTERM/rolling restart waits for in-flight requests')),
    restartBackoffMs: Type.Optional(Ms('First delay before restarting a dead worker (doubles, capped)')),
    restartBackoffMaxMs: Type.Optional(Ms('Cap on the restart delay')),
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

export const Upstream = Type.Object(
  {
    balancer: Type.Optional({ ...Balancer, description: 'Target selection (default round-robin)' }),
    targets: Type.Array(Target, { description: 'May be empty (or all weight 0): requests then get 503 WICKET_ERR_NO_TARGET' }),
    connections: Type.Optional(Type.Integer({ minimum: 1, maximum: 4096, description: 'Keep-alive connections per target per worker' })),
    connectTimeoutMs: Type.Optional(Ms('TCP connect timeout; over it: 504')),
    headersTimeoutMs: Type.Optional(Ms('Time to the upstream response headers; over it: 504')),
    bodyTimeoutMs: Type.Optional(Ms('Idle time between upstream body chunks; over it the response is cut')),
    keepAliveTimeoutMs: Type.Optional(Ms('Idle keep-alive upstream connections are closed after this')),
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
    timeoutMs: Type.Optional(Ms('Total time for the upstream exchange; over it: 504')),
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

export const DEFAULTS = {
  host: '0.0.0.0',
  adminHost: '127.0.0.1',
  adminPort: 9901,
  logLevel: 'info',
  accessLog: true,
  maxHeaderBytes: 16384,
  maxUrlLength: 8192,
  maxBodyBytes: 10 * 1024 * 1024,
  drainTimeoutMs: 30_000,
  restartBackoffMs: 100,
  restartBackoffMaxMs: 10_000,
  connections: 128,
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  keepAliveTimeoutMs: 4_000,
  client: 'wicket',
} as const;

export function schemaJson(): TSchema {
  return ConfigSchema;
}
