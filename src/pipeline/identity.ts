// Who a request is, once an auth method verified it (the auth filter sets
// ctx.identity). Everything after auth reads only this: authorization, the
// rate limit's `consumer` key part, the access log. It never holds the
// credential itself.
export interface Identity {
  /** The method that verified it: jwt, api-key, basic, ... or anonymous. */
  readonly method: string;
  /** A stable name for the caller (consumer name, JWT sub, user name): rate-limit keys and the access log. */
  readonly consumer: string;
  /** Verified claims (JWT, introspection); {} for methods without claims. */
  readonly claims: Readonly<Record<string, unknown>>;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
}

export const ANONYMOUS: Identity = Object.freeze({ method: 'anonymous', consumer: 'anonymous', claims: Object.freeze({}), scopes: [], roles: [] });
