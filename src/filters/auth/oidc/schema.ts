import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;
const EnvName = (description: string) => Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description });
const Path = (description: string) => Type.String({ pattern: '^/[^?#\\s]*$', description });

export const OidcProviderSchema = Type.Object(
  {
    issuer: Type.String({ pattern: '^https?://', description: 'The OpenID provider (its /.well-known/openid-configuration is read)' }),
    clientId: Type.String({ minLength: 1 }),
    clientSecretEnv: EnvName('Environment variable holding the client secret (client_secret_basic)'),
    cookieSecretEnv: EnvName('Environment variable holding at least 32 characters: the key that encrypts session cookies (JWE, A256GCM)'),
    scopes: Type.Optional(Type.Array(Type.String({ pattern: '^[!#-\\[\\]-~]+$' }), { description: 'Requested scopes (default [openid]; add offline_access for refresh tokens)' })),
    cookieName: Type.Optional(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", description: 'Session cookie (default wicket_session)' })),
    sessionMaxSeconds: Type.Optional(Type.Integer({ minimum: 60, description: 'A login lasts at most this long, refreshes included (default 28800)' })),
    refreshBeforeSeconds: Type.Optional(Type.Integer({ minimum: 0, description: 'Refresh the tokens when the access token ends within this (default 60)' })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 60_000, description: 'Per call to the provider (default 5000)' })),
  },
  strict,
);

export const OidcSectionSchema = Type.Object(
  { providers: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), OidcProviderSchema, { additionalProperties: false }) },
  { ...strict, description: 'OpenID Connect providers for browser login (authorization code flow with PKCE)' },
);

export const OidcRouteSchema = Type.Object(
  {
    provider: Type.String({ minLength: 1, description: 'A name under auth.oidc.providers' }),
    callbackPath: Path("The redirect URI's path (inside this route's match; registered at the provider)"),
    logoutPath: Type.Optional(Path('Ends the session (and at the provider when it offers end_session_endpoint)')),
    postLogoutPath: Type.Optional(Path('Where logout sends the browser (default /)')),
    redirectUri: Type.Optional(Type.String({ pattern: '^https?://', description: 'The full redirect URI (default: scheme and Host of the request + callbackPath)' })),
  },
  { ...strict, description: 'Browser login: requests without a session are sent to the provider' },
);

export type OidcProviderConfig = Static<typeof OidcProviderSchema>;
export type OidcSectionConfig = Static<typeof OidcSectionSchema>;
export type OidcRouteConfig = Static<typeof OidcRouteSchema>;
