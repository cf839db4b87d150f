// Config of the basic auth method (RFC 7617; docs/ARCHITECTURE.md "Identity"):
// a route names a realm; the top-level auth.basic section lists the realms'
// user files and sizes the worker's hashing pool and success cache.
import { Type, type Static } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

/** Realm names go into `WWW-Authenticate: Basic realm="..."` as they are: no quotes, no backslashes. */
export const REALM_NAME = '^[A-Za-z0-9][A-Za-z0-9 ._@/-]{0,99}$';

export const BasicRouteSchema = Type.Object(
  {
    realm: Type.String({ pattern: REALM_NAME, description: 'A realm of the top-level auth.basic.realms' }),
    hideCredentials: Type.Optional(Type.Boolean({ description: 'Remove the Authorization header before proxying (default true)' })),
  },
  { ...strict, description: 'HTTP Basic authentication (RFC 7617) against a realm\'s htpasswd file' },
);

const Realm = Type.Object(
  {
    htpasswd: Type.String({
      minLength: 1,
      description: 'htpasswd file (relative to the config file\'s folder): user:hash[:role,role], bcrypt or argon2id/argon2i hashes only; re-read on reload',
    }),
  },
  strict,
);

export const BasicSectionSchema = Type.Object(
  {
    realms: Type.Record(Type.String({ pattern: REALM_NAME }), Realm, { additionalProperties: false, description: 'Realm name -> its user file' }),
    threads: Type.Optional(Type.Integer({ minimum: 1, maximum: 8, description: 'Hashing threads per gateway worker (default 1)' })),
    maxQueue: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 10_000, description: 'Checks waiting for a hashing thread per gateway worker; one more is answered 503 at once (default 16)' }),
    ),
    niceIncrement: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 19, description: 'Added to the hashing threads\' nice value on Linux so the event loop gets the CPU first (default 10)' }),
    ),
    cacheTtlSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 3600, description: 'How long a successful check is remembered (default 60; 0: never)' })),
    cacheMaxEntries: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'Successful checks remembered per gateway worker (default 10000)' })),
  },
  { ...strict, description: 'Basic auth: realms and the password-hashing pool' },
);

export type BasicRouteConfig = Static<typeof BasicRouteSchema>;
export type BasicSectionConfig = Static<typeof BasicSectionSchema>;
