import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const IntrospectionEndpointSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', description: 'The RFC 7662 introspection endpoint' }),
    clientId: Type.String({ minLength: 1, description: "The gateway's client id at the authorization server" }),
    clientSecretEnv: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'Name of the environment variable holding the client secret (never in the file)' }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000, description: 'Per call (default 2000)' })),
    cacheMaxSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400, description: 'An active token is trusted from the cache until its exp, and at most this long (default 300)' })),
    cacheEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Active tokens kept per worker (default 10000)' })),
    failOpen: Type.Optional(Type.Boolean({ description: 'Endpoint unreachable: tokens already seen active (and not past exp) still pass; others get 503 (default false: 503 for all)' })),
    consumerClaim: Type.Optional(Type.String({ minLength: 1, description: 'The claim naming the consumer (default sub, then username, then client_id)' })),
    rolesClaim: Type.Optional(Type.String({ minLength: 1, description: 'Dotted path of a roles array (default roles)' })),
  },
  strict,
);

export const IntrospectionSectionSchema = Type.Object(
  { endpoints: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), IntrospectionEndpointSchema, { additionalProperties: false }) },
  { ...strict, description: 'OAuth 2.0 token introspection endpoints (RFC 7662)' },
);

export const IntrospectionRouteSchema = Type.Object(
  {
    endpoint: Type.String({ minLength: 1, description: 'A name under auth.introspection.endpoints' }),
    realm: Type.Optional(Type.String({ pattern: '^[^"\\\\\\x00-\\x1f]*$', description: 'The Bearer challenge realm (default: the route name)' })),
  },
  { ...strict, description: 'An opaque Bearer token checked at an introspection endpoint' },
);

export type IntrospectionEndpointConfig = Static<typeof IntrospectionEndpointSchema>;
export type IntrospectionSectionConfig = Static<typeof IntrospectionSectionSchema>;
export type IntrospectionRouteConfig = Static<typeof IntrospectionRouteSchema>;
