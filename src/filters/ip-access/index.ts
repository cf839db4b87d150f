// Client address allow/deny lists per route, before anything else runs (a
// denied client gets no CORS answer, no auth challenge, no rate-limit cell).
// The client address is the peer's, or the first untrusted hop of
// X-Forwarded-For when the peer is a trusted proxy (rateLimit.trustedProxies).
import { blockList, contains } from '../../features/rate-limit/client-ip.js';
import type { FilterModule } from '../../pipeline/filter.js';
import type { IpAccessConfig } from './schema.js';

export const ipAccessFilter: FilterModule = {
  key: 'ipAccess',
  order: 50,
  compile(route, env) {
    const cfg = route.config.ipAccess as IpAccessConfig | undefined;
    if (cfg === undefined) return null;
    const allow = cfg.allow === undefined ? null : blockList(cfg.allow);
    const deny = cfg.deny === undefined ? null : blockList(cfg.deny);
    return {
      name: 'ip-access',
      onRequest(ctx) {
        const ip = env.clientIp(ctx);
        if (contains(deny, ip) || (allow !== null && !contains(allow, ip))) return { error: 'WICKET_ERR_IP_FORBIDDEN' };
        return undefined;
      },
    };
  },
};
