// The apiKey method's config: a route's settings (where the key is read) and
// the top-level auth.apiKey section (the key store every route shares).
// docs/ARCHITECTURE.md "Identity".
import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const ApiKeyRouteSchema = Type.Object(
  {
    header: Type.Optional(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9a-z-]+$", description: 'The lower-case header that carries the key (default x-api-key)' })),
    query: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Also read the key from this query parameter (e.g. api_key); off by default' })),
    hideCredentials: Type.Optional(Type.Boolean({ description: 'Take the key off the request (header and query parameter) before it goes upstream (default true)' })),
  },
  { ...strict, description: 'API keys issued by the gateway (admin API /auth/apiKey/...)' },
);

export const ApiKeyRedisSchema = Type.Object(
  {
    url: Type.String({ minLength: 1, description: 'redis://[user:pass@]host:port[/db] or rediss://... (credentials are never logged)' }),
    keyPrefix: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "Prefix of the store's Redis keys and change channel (default wicket:{apikey}:, one hash slot)" })),
  },
  strict,
);

export const ApiKeySectionSchema = Type.Object(
  {
    hashSecretEnv: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'The environment variable holding the HMAC secret keys are stored under (at least 32 bytes)' }),
    file: Type.Optional(Type.String({ minLength: 1, description: 'The store file the gateway owns (JSON, mode 0600), relative to the config file' })),
    redis: Type.Optional(ApiKeyRedisSchema),
    prefix: Type.Optional(Type.String({ pattern: '^[a-z][a-z0-9]*(_[a-z0-9]+)*_$', maxLength: 24, description: 'Start of every key the gateway issues (default wk_live_)' })),
    graceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 31_536_000, description: 'How long a rotated key keeps working (default 3600)' })),
    lastUsedReportSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 300, description: 'How often workers report when keys were last used (default 5; "last used" is that approximate)' })),
  },
  { ...strict, description: 'The API-key store: exactly one of file or redis' },
);

export type ApiKeyRouteConfig = Static<typeof ApiKeyRouteSchema>;
export type ApiKeySectionConfig = Static<typeof ApiKeySectionSchema>;
