// The rate-limit parts of the config schema: a route's limits and the
// settings all routes share.
import { Type } from '@sinclair/typebox';
import { Ms, strict } from './schema-parts.js';

export const RateLimitAlgorithms = ['gcra', 'fixed-window', 'sliding-window', 'sliding-log'] as const;
const KeyPart = Type.String({
  pattern: "^(ip|route|consumer|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$",
  description: 'ip (client address, IPv6 grouped by prefix), route, consumer (the verified identity on routes with auth; elsewhere the rateLimit.consumerHeader header) or header:NAME',
});

export const Limit = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'Policy name in the RateLimit headers (default l<index>)' })),
    algorithm: Type.Optional(Type.Union(RateLimitAlgorithms.map((a) => Type.Literal(a)), { description: 'gcra (token bucket: burst + rate; default), fixed-window, sliding-window (counter approximation), sliding-log (exact: one timestamp per unit; tier global only, limit at most 100000)' })),
    limit: Type.Integer({ minimum: 1, maximum: 16_000_000, description: 'Requests (cost units) per window' }),
    windowMs: Ms('Window (for gcra: the time in which `limit` units are replenished)'),
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 16_000_000, description: 'gcra only: units that may be spent at once (default limit)' })),
    key: Type.Optional(Type.Array(KeyPart, { minItems: 1, maxItems: 8, description: 'Parts of the key, joined (default [ip])' })),
    cost: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Units one request takes (default 1)' })),
    costHeader: Type.Optional(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", description: 'Request header whose integer value is the cost (else `cost`)' })),
    tier: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('global')], { description: 'local: shared memory, exact across this machine\'s workers (default); global: Redis, exact across gateways' })),
    onRedisFailure: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')], { description: "global only: 'open' falls back to the local tier at limit x localShare (default), 'closed' answers 503" })),
    localShare: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, description: 'global, fail-open: share of the limit the local tier enforces while Redis is away (default 1)' })),
    exempt: Type.Optional(
      Type.Object(
        {
          ips: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Addresses or CIDR ranges' })),
          consumers: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
          headers: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'Exempt when the header has exactly this value' })),
        },
        strict,
      ),
    ),
  },
  strict,
);

export const RouteRateLimit = Type.Object(
  {
    limits: Type.Array(Limit, { minItems: 1, maxItems: 8 }),
    headers: Type.Optional(
      Type.Union([Type.Literal('draft'), Type.Literal('legacy'), Type.Literal('both'), Type.Literal('none')], {
        description: 'draft: RateLimit + RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers); legacy: X-RateLimit-*; both; none (default draft)',
      }),
    ),
  },
  { ...strict, description: 'Limits checked in order before proxying; a request is admitted only if every limit admits it' },
);

export const GlobalRateLimit = Type.Object(
  {
    trustedProxies: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Addresses/CIDRs whose X-Forwarded-For / Forwarded are believed' })),
    ipv6PrefixLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 128, description: 'IPv6 clients are grouped by this prefix (default 64)' })),
    consumerHeader: Type.Optional(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", description: 'Header naming the consumer (default x-consumer-id)' })),
    redis: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^rediss?://', description: 'redis://host:port[/db]' }),
          deadlineMs: Type.Optional(Ms('Longest a request waits for Redis (default 50)')),
          keyPrefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,32}$' })),
        },
        strict,
      ),
    ),
  },
  { ...strict, description: 'Rate-limit settings shared by all routes' },
);

