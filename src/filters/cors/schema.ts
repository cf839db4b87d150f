import { Type, type Static } from '@sinclair/typebox';

const Token = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" });

export const CorsSchema = Type.Object(
  {
    allowOrigins: Type.Array(Type.String({ pattern: '^(\\*|[a-zA-Z][a-zA-Z0-9+.-]*://[^/\\s]+)$' }), {
      minItems: 1,
      description: "Origins allowed to call this route (scheme://host[:port]); '*' allows any",
    }),
    allowMethods: Type.Optional(Type.Array(Token, { minItems: 1, description: 'Methods a preflight may ask for (default GET, HEAD, POST, PUT, PATCH, DELETE)' })),
    allowHeaders: Type.Optional(Type.Array(Token, { description: 'Request headers a preflight may ask for (default: any the browser asks for)' })),
    exposeHeaders: Type.Optional(Type.Array(Token, { description: 'Response headers scripts may read (Access-Control-Expose-Headers)' })),
    exposeResponseHeaders: Type.Optional(Type.Boolean({ description: "Also expose every header of each response by name (works with credentials, unlike '*'; default false)" })),
    allowCredentials: Type.Optional(Type.Boolean({ description: 'Access-Control-Allow-Credentials: true; the origin is echoed, never * (default false)' })),
    maxAgeSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400, description: 'How long browsers cache a preflight answer (default 600)' })),
  },
  { additionalProperties: false, description: 'CORS (Fetch standard): preflights answered by the gateway, response headers added for allowed origins' },
);

export type CorsConfig = Static<typeof CorsSchema>;
