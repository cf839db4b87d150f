// The auth filter's config: the route's `auth` key and the top-level `auth`
// section (method settings shared by routes: JWT providers, the API-key
// store, basic-auth user files, the RBAC role table). Each method's own
// fragments live in its folder; a new method adds one line to each record
// below and one to methods.ts.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { IntrospectionRouteSchema, IntrospectionSectionSchema } from './introspection/schema.js';
import { OidcRouteSchema, OidcSectionSchema } from './oidc/schema.js';
import { JwtRouteSchema, JwtSectionSchema } from './jwt/schema.js';
import { BasicRouteSchema, BasicSectionSchema } from './basic/schema.js';
import { ApiKeyRouteSchema, ApiKeySectionSchema } from './api-key/schema.js';

const strict = { additionalProperties: false } as const;

/** A method's config inside a route's auth.methods[] entry, by method key. */
const METHOD_ROUTE_SCHEMAS: Record<string, TSchema> = {
  introspection: IntrospectionRouteSchema,
  oidc: OidcRouteSchema,
  jwt: JwtRouteSchema,
  basic: BasicRouteSchema,
  apiKey: ApiKeyRouteSchema,
};
/** A method's shared settings under the top-level auth section, by method key. */
const METHOD_SECTION_SCHEMAS: Record<string, TSchema> = {
  introspection: IntrospectionSectionSchema,
  oidc: OidcSectionSchema,
  jwt: JwtSectionSchema,
  basic: BasicSectionSchema,
  apiKey: ApiKeySectionSchema,
};

const HeaderName = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9a-z-]+$", description: 'A lower-case header name' });

/** One side of an ABAC condition: where the value comes from. */
const Condition = Type.Object(
  {
    claim: Type.Optional(Type.String({ minLength: 1, description: 'A verified claim, dotted path (realm_access.roles)' })),
    header: Type.Optional(HeaderName),
    param: Type.Optional(Type.String({ minLength: 1, description: 'A path parameter of the route match' })),
    ip: Type.Optional(Type.Literal(true, { description: "The client's address (trusted proxies' X-Forwarded-For walked)" })),
    consumer: Type.Optional(Type.Literal(true, { description: 'The authenticated consumer name' })),
    equals: Type.Optional(Type.String({ description: 'Equal to this text; {param.NAME} {header.NAME} {claim.NAME} {consumer} are filled in' })),
    notEquals: Type.Optional(Type.String({ description: 'Not equal to this text (placeholders as for equals)' })),
    oneOf: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    inCidr: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'With ip: in one of these ranges' })),
    exists: Type.Optional(Type.Boolean()),
    matches: Type.Optional(Type.String({ minLength: 1, description: 'A regular expression the whole value must match' })),
  },
  { ...strict, description: 'One of claim/header/param/ip/consumer, compared with one of equals/notEquals/oneOf/inCidr/exists/matches' },
);

export const Requirement = Type.Object(
  {
    scopes: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Every one of these scopes' })),
    roles: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'At least one of these roles' })),
    claims: Type.Optional(
      Type.Record(Type.String({ minLength: 1 }), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Array(Type.Union([Type.String(), Type.Number(), Type.Boolean()]))]), {
        description: 'Each claim (dotted path) equal to the value, or to one of the listed values',
      }),
    ),
    when: Type.Optional(Type.Array(Condition, { description: 'Every condition holds (ABAC)' })),
    rbac: Type.Optional(Type.Boolean({ description: "One of the caller's roles is granted this route and method by the top-level auth.roles table" })),
  },
  strict,
);

const Method = Type.Object(
  Object.fromEntries(Object.entries(METHOD_ROUTE_SCHEMAS).map(([k, s]) => [k, Type.Optional(s)])),
  { ...strict, minProperties: 1, maxProperties: 1, description: 'One auth method: its key and its settings for this route' },
);

export const AuthRouteSchema = Type.Object(
  {
    methods: Type.Array(Method, { minItems: 1, description: 'The methods tried, in order' }),
    mode: Type.Optional(Type.Union([Type.Literal('any'), Type.Literal('all')], { description: 'any: the first method with a credential decides (default); all: every method must pass' })),
    anonymous: Type.Optional(Type.Boolean({ description: 'A request with no credential at all goes on as the consumer "anonymous" (a bad credential is still refused)' })),
    require: Type.Optional(Requirement),
    methodRequire: Type.Optional(
      Type.Record(Type.String({ pattern: '^[A-Z]+$' }), Requirement, { additionalProperties: false, description: 'Further requirements for one HTTP method (POST: {roles: [writer]})' }),
    ),
    upstreamHeaders: Type.Optional(
      Type.Record(HeaderName, Type.String({ pattern: '^(consumer|method|scopes|roles|claim:.+)$' }), {
        additionalProperties: false,
        description: 'Headers set on the upstream request from the identity (consumer, method, scopes, roles, claim:NAME); copies the client sent are removed',
      }),
    ),
  },
  { ...strict, description: 'Authentication and authorization for this route (docs/ARCHITECTURE.md "Identity")' },
);

const Grant = Type.Object(
  {
    routes: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: "Route names ('*': every route)" }),
    methods: Type.Optional(Type.Array(Type.String({ pattern: '^([A-Z]+|\\*)$' }), { description: "HTTP methods (default '*')" })),
  },
  strict,
);

export const AuthSectionSchema = Type.Object(
  {
    ...Object.fromEntries(Object.entries(METHOD_SECTION_SCHEMAS).map(([k, s]) => [k, Type.Optional(s)])),
    roles: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.Array(Grant), { description: 'RBAC: what each role may call (used by routes with auth.require.rbac)' })),
  },
  { ...strict, description: 'Auth settings routes share' },
);

export type AuthRouteConfig = Static<typeof AuthRouteSchema>;
export type RequirementConfig = Static<typeof Requirement>;
export type ConditionConfig = Static<typeof Condition>;
export type AuthSectionConfig = Static<typeof AuthSectionSchema>;
export type GrantConfig = Static<typeof Grant>;
