// The jwt method's config: providers under the top-level auth.jwt section
// (who issues tokens, with which keys), and per route which provider and
// where the token is read from (docs/ARCHITECTURE.md "Identity").
import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/** Every algorithm the method can verify. `none` is not one of them, by construction. */
export const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'HS256', 'HS384', 'HS512'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

const Alg = Type.Union(ALGORITHMS.map((a) => Type.Literal(a)));

const LocalKey = Type.Object(
  {
    kid: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'The key id tokens name in their kid header (a token without kid is tried with every key fitting its alg)' })),
    alg: Type.Optional(Alg),
    pem: Type.Optional(Type.String({ minLength: 1, description: 'A PEM public key (SPKI): RSA, EC P-256/384/521 or Ed25519' })),
    pemFile: Type.Optional(Type.String({ minLength: 1, description: 'A file holding a PEM public key (relative to the config file)' })),
    jwk: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'A public JWK (RSA, EC, OKP); never a private or symmetric one' })),
    secretEnv: Type.Optional(
      Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'The environment variable holding an HMAC secret (at least 32 bytes): never written in the file' }),
    ),
  },
  { ...strict, description: 'One verification key: exactly one of pem, pemFile, jwk, secretEnv' },
);

const Provider = Type.Object(
  {
    issuer: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })], { description: 'The iss claim must be (one of) this' })),
    audiences: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'The aud claim must hold one of these' })),
    algorithms: Type.Optional(Type.Array(Alg, { minItems: 1, description: "Algorithms accepted (default: every one the keys fit); a token's alg must also fit its key's type" })),
    keys: Type.Optional(Type.Array(LocalKey, { minItems: 1, description: 'Keys given in the config' })),
    jwksUrl: Type.Optional(Type.String({ minLength: 1, description: 'A JWKS endpoint, fetched once per gateway by the supervisor (https; http only on loopback)' })),
    minTtlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86400, description: "Shortest time a fetched key set is kept before it is fetched again (default 60); the response's Cache-Control max-age is clamped to [min, max]" })),
    maxTtlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 604800, description: 'Longest time a fetched key set is kept (default 3600)' })),
    cooldownSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'A token with an unknown kid refetches the key set at most once per this many seconds (default 30)' })),
    fetchTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 60000, description: 'Timeout of one JWKS fetch (default 5000)' })),
    clockSkewSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300, description: 'Leeway for exp, nbf and iat (default 30)' })),
    requiredClaims: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Claims (dotted paths) every token must carry; exp is always required' })),
    claims: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean()]), { minItems: 1 })]), {
        description: 'Each claim (dotted path) must equal the value, or one of the listed values (tenant: acme)',
      }),
    ),
    consumerClaim: Type.Optional(Type.String({ minLength: 1, description: 'The claim naming the consumer (default sub)' })),
    scopesClaim: Type.Optional(Type.String({ minLength: 1, description: 'Where scopes come from (default: scope, space-separated, else scp, an array)' })),
    rolesClaim: Type.Optional(Type.String({ minLength: 1, description: 'Dotted path of the roles claim, a string or an array (default roles)' })),
    cacheEntries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Verified tokens remembered per worker (by SHA-256, until exp; default 10000; 0: off)' })),
  },
  { ...strict, description: 'A token issuer: its keys (keys and/or jwksUrl) and what its tokens must say' },
);

export const JwtSectionSchema = Type.Object(
  {
    providers: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), Provider, { description: 'Token issuers by name (routes name one)' }),
  },
  { ...strict, description: 'JWT bearer tokens (docs/ARCHITECTURE.md "Identity")' },
);

const Source = Type.Union([
  Type.Object({ header: Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9a-z-]+$", description: 'A lower-case header name; authorization is read as "Bearer <token>"' }) }, strict),
  Type.Object({ cookie: Type.String({ minLength: 1, description: 'A cookie name' }) }, strict),
  Type.Object({ query: Type.String({ minLength: 1, description: 'A query parameter (always removed before the request goes upstream)' }) }, strict),
]);

export const JwtRouteSchema = Type.Object(
  {
    provider: Type.String({ minLength: 1, description: 'A provider of auth.jwt.providers' }),
    from: Type.Optional(Type.Array(Source, { minItems: 1, description: 'Where the token is read, first found wins (default: Authorization: Bearer)' })),
    hideCredentials: Type.Optional(Type.Boolean({ description: 'Also remove the header or cookie holding the token before the request goes upstream (default false)' })),
    realm: Type.Optional(Type.String({ pattern: '^[\\x20\\x21\\x23-\\x5B\\x5D-\\x7E]*$', description: 'The realm in WWW-Authenticate (default wicket)' })),
  },
  { ...strict, description: 'JWT bearer tokens on this route' },
);

export type JwtSectionConfig = Static<typeof JwtSectionSchema>;
export type ProviderConfig = Static<typeof Provider>;
export type LocalKeyConfig = Static<typeof LocalKey>;
export type JwtRouteConfig = Static<typeof JwtRouteSchema>;
export type SourceConfig = Static<typeof Source>;
