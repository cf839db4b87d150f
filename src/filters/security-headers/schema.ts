import { Type, type Static } from '@sinclair/typebox';

/** Lower-case names; framing and hop-by-hop fields are the gateway's. */
const Name = Type.String({
  pattern: "^(?!(?:content-length|transfer-encoding|connection|keep-alive|proxy-connection|te|trailer|upgrade|set-cookie)$)[!#$%&'*+.^_`|~0-9a-z-]+$",
  description: 'A lower-case header name',
});

export const SecurityHeadersSchema = Type.Object(
  {
    preset: Type.Optional(
      Type.Union([Type.Literal('strict'), Type.Literal('basic')], {
        description: 'basic: nosniff, SAMEORIGIN framing, a referrer policy, HSTS on https; strict: also no framing at all, a locked-down CSP, COOP and a Permissions-Policy (default basic; the values: docs/ARCHITECTURE.md "Security headers")',
      }),
    ),
    headers: Type.Optional(
      Type.Record(Name, Type.Union([Type.String({ minLength: 1, pattern: '^[^\\x00-\\x08\\x0a-\\x1f\\x7f]*$' }), Type.Literal(false)]), {
        additionalProperties: false,
        description: 'Per header: a value that replaces the preset\'s (or adds one), or false to leave that header alone',
      }),
    ),
  },
  { additionalProperties: false, description: 'Security response headers on every response of the route, the gateway\'s own included; they replace what the upstream sent' },
);

export type SecurityHeadersConfig = Static<typeof SecurityHeadersSchema>;
