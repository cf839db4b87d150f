// The `introspection` auth method: an opaque Bearer token checked at an RFC
// 7662 endpoint (service.ts holds the calls and the cache).
import type { AuthMethod } from '../methods.js';
import { bearerChallenge, bearerToken } from '../bearer.js';
import type { IntrospectionRouteConfig, IntrospectionSectionConfig } from './schema.js';
import { IntrospectionService } from './service.js';

export const introspectionMethod: AuthMethod = {
  key: 'introspection',
  service: (section, previous) => new IntrospectionService(section as IntrospectionSectionConfig, previous as IntrospectionService | undefined),
  create(settings, services, routeName) {
    const cfg = settings as IntrospectionRouteConfig;
    const endpoint = services.get<IntrospectionService>('introspection')?.endpoints.get(cfg.endpoint);
    if (endpoint === undefined) throw new Error(`no introspection endpoint ${cfg.endpoint} (auth.introspection.endpoints)`);
    const realm = cfg.realm ?? routeName;
    return {
      kind: 'introspection',
      authenticate(ctx) {
        const token = bearerToken(ctx);
        return token === undefined ? null : endpoint.check(token);
      },
      challenge: (failure) => bearerChallenge(realm, failure?.description ?? null),
    };
  },
};
