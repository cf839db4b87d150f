// The jwt auth method: a bearer token (a JWT) read from the Authorization
// header, another header, a cookie or the query, verified against the
// route's provider (provider.ts). docs/ARCHITECTURE.md "Identity".
import type { RequestContext } from '../../../pipeline/context.js';
import { withoutQueryParam, type Authenticator, type AuthServices } from '../authenticator.js';
import type { AuthMethod } from '../methods.js';
import type { AuthIo } from '../services.js';
import { bearerChallenge, bearerOf } from '../bearer.js';
import { removeCookie, requestCookie } from '../cookies.js';
import type { JwtRouteConfig, JwtSectionConfig, SourceConfig } from './schema.js';
import { JwtService } from './service.js';

export const JWT = 'jwt';

/** Reads the token from one source; null: not there. */
function reader(src: SourceConfig): (ctx: RequestContext) => string | null {
  if ('query' in src) {
    const name = src.query;
    return (ctx) => {
      const v = ctx.queryParam(name);
      return v === undefined || v === '' ? null : v;
    };
  }
  if ('cookie' in src) {
    const name = src.cookie;
    return (ctx) => requestCookie(ctx, name) ?? null;
  }
  const name = src.header;
  if (name === 'authorization') {
    return (ctx) => {
      const v = ctx.header(name);
      return v === undefined ? null : bearerOf(v);
    };
  }
  return (ctx) => {
    const v = ctx.header(name)?.trim();
    return v === undefined || v === '' ? null : v;
  };
}

/** Takes the source's credential off the request (before it goes upstream). */
function stripper(src: SourceConfig, hide: boolean): ((ctx: RequestContext) => void) | null {
  if ('query' in src) {
    const name = src.query;
    return (ctx) => {
      ctx.query = withoutQueryParam(ctx.query, name);
    };
  }
  if (!hide) return null;
  if ('cookie' in src) {
    const name = src.cookie;
    return (ctx) => removeCookie(ctx, name);
  }
  const name = src.header;
  return (ctx) => {
    const h = ctx.headers;
    for (let i = h.length - 2; i >= 0; i -= 2) if (h[i] === name) h.splice(i, 2);
  };
}

function create(settings: unknown, services: AuthServices, routeName: string): Authenticator {
  const cfg = settings as JwtRouteConfig;
  const svc = services.get<JwtService>(JWT);
  const provider = svc?.providers.get(cfg.provider);
  if (provider === undefined) throw new Error(`no provider "${cfg.provider}" in auth.jwt.providers (route ${routeName})`);
  const sources = cfg.from ?? [{ header: 'authorization' }];
  const reads = sources.map(reader);
  const strips = sources.map((s) => stripper(s, cfg.hideCredentials ?? false)).filter((s) => s !== null);
  const realm = cfg.realm ?? 'wicket';
  return {
    kind: JWT,
    authenticate(ctx) {
      for (const read of reads) {
        const token = read(ctx);
        if (token !== null) return provider.check(token);
      }
      return null;
    },
    // No token sent: just the realm (RFC 6750 §3.1: no error code then).
    challenge: (failure) => bearerChallenge(realm, failure?.description ?? null),
    strip: strips.length === 0 ? undefined : (ctx) => {
      for (const s of strips) s(ctx);
    },
  };
}

export const jwtMethod: AuthMethod = {
  key: JWT,
  create,
  service: (section, previous, io: AuthIo) => new JwtService(section as JwtSectionConfig, previous as JwtService | undefined, io),
  close: (service) => (service as JwtService).close(),
};
