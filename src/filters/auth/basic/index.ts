// The basic auth method (RFC 7617; docs/ARCHITECTURE.md "Identity"): a route
// names a realm, the worker's BasicService checks the password on its
// hashing pool. Identity: method 'basic', consumer = the user name, roles
// from the htpasswd line's third field, claims { realm }.
import type { RequestContext } from '../../../pipeline/context.js';
import { AuthFailure, type AuthResult, type Authenticator, type AuthServices } from '../authenticator.js';
import type { AuthMethod } from '../methods.js';
import { parseBasic } from './credentials.js';
import type { BasicRouteConfig } from './schema.js';
import { BasicService, basicService } from './service.js';

class BasicAuthenticator implements Authenticator {
  readonly kind = 'basic';
  readonly #service: BasicService;
  readonly #realm: string;
  readonly #challenge: string;
  readonly strip?: (ctx: RequestContext) => void;

  constructor(service: BasicService, realm: string, hide: boolean) {
    this.#service = service;
    this.#realm = realm;
    this.#challenge = `Basic realm="${realm}", charset="UTF-8"`;
    if (hide) this.strip = stripAuthorization;
  }

  authenticate(ctx: RequestContext): AuthResult | Promise<AuthResult> {
    const cred = parseBasic(ctx.header('authorization'));
    if (cred === null) return null;
    if (cred === 'malformed') return new AuthFailure('invalid', 'malformed Basic credentials');
    return this.#service.check(this.#realm, cred.user, cred.password);
  }

  challenge(): string {
    return this.#challenge;
  }
}

/** Every Authorization field off the request (an upstream never sees the password). */
function stripAuthorization(ctx: RequestContext): void {
  const h = ctx.headers;
  for (let i = h.length - 2; i >= 0; i -= 2) if (h[i] === 'authorization') h.splice(i, 2);
}

export const basicMethod: AuthMethod = {
  key: 'basic',
  create(settings: unknown, services: AuthServices): BasicAuthenticator {
    const s = settings as BasicRouteConfig;
    const service = services.get<BasicService>('basic');
    if (service === undefined) throw new Error('needs the top-level auth.basic section');
    if (!service.hasRealm(s.realm)) throw new Error(`unknown realm "${s.realm}"`);
    return new BasicAuthenticator(service, s.realm, s.hideCredentials ?? true);
  },
  service: basicService,
  close: (service) => (service as BasicService).close(),
};
