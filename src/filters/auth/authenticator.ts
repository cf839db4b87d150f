// What one auth method (JWT, API key, basic, ...) gives the auth filter. A
// method only says who the caller is; the filter decides what happens (any
// of / all of, anonymous fallback, the 401 and its challenges).
import type { RequestContext } from '../../pipeline/context.js';
import type { Identity } from '../../pipeline/identity.js';
import type { LocalReply } from '../../pipeline/filter.js';
import type { AuthSectionConfig } from './schema.js';

/** A credential was there and is not good (or could not be checked). */
export class AuthFailure {
  constructor(
    /** invalid: 401; unavailable: the method could not decide (503); busy: too many checks queued (503). */
    readonly kind: 'invalid' | 'unavailable' | 'busy',
    /** For the client (RFC 6750 error_description): never the credential, never internals. */
    readonly description: string,
  ) {}
}

/** null: the request carries no credential of this method's kind. */
export type AuthResult = Identity | AuthFailure | null;

export interface Authenticator {
  /** For logs and the challenge: jwt, api-key, basic, ... */
  readonly kind: string;
  authenticate(ctx: RequestContext): AuthResult | Promise<AuthResult>;
  /** The WWW-Authenticate challenge of a 401 (null: the method has none, e.g. API keys). */
  challenge(failure: AuthFailure | null): string | null;
  /** Takes the credential off the request before it goes upstream (a token in the query, a key header). */
  strip?(ctx: RequestContext): void;
  /** The method's own endpoints (a login callback, a logout): a reply, or undefined for other requests. */
  intercept?(ctx: RequestContext): LocalReply | Promise<LocalReply> | undefined;
  /** What a request with no credential at all gets instead of 401 (a browser login redirect); undefined: the 401. */
  onMissing?(ctx: RequestContext): LocalReply | Promise<LocalReply> | undefined;
}

/** Builds a method's authenticator from its route config; `services` are the worker's (auth/services.ts). */
export type AuthenticatorFactory = (routeConfig: unknown, services: AuthServices, routeName: string) => Authenticator;

/**
 * Worker-wide state auth methods share across routes (key sets, key tables,
 * the hashing pool), keyed by method. Each method registers what it needs
 * (auth/methods.ts) and reads it back typed.
 */
export interface AuthServices {
  get<T>(method: string): T | undefined;
  /** The top-level auth section of the config being compiled. */
  readonly section: AuthSectionConfig | undefined;
}

/** `query` without the parameter `name` (every occurrence), other bytes untouched. */
export function withoutQueryParam(query: string, name: string): string {
  if (query === '') return query;
  const kept = query.split('&').filter((pair) => {
    const eq = pair.indexOf('=');
    const raw = eq === -1 ? pair : pair.slice(0, eq);
    let key = raw;
    try {
      key = decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch {
      // A malformed escape is not our parameter.
    }
    return key !== name;
  });
  return kept.join('&');
}
