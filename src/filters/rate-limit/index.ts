// The rate-limit filter: the route's limits (src/features/rate-limit/) as an
// onRequest phase. Admitted: the limit headers go on whatever response goes
// out. Refused: 429 (or 503 when the state tier is away and the limit fails
// closed), with Retry-After when waiting would help.
import type { ResolvedRouteRateLimit } from '../../config/load.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { Decision, FilterModule } from '../../pipeline/filter.js';
import { RouteRateLimit, type Outcome, type RateLimitEnv } from '../../features/rate-limit/feature.js';

/** FilterEnv.services key of the worker's RateLimitEnv. */
export const RATE_LIMIT_ENV = 'rateLimit';

function verdict(ctx: RequestContext, o: Outcome): Decision {
  if (o.headers.length > 0) ctx.addResponseHeaders(o.headers);
  if (o.reject === null) return undefined;
  ctx.retryAfter = o.reject.retryAfterSec;
  return { error: o.reject.code };
}

export const rateLimitFilter: FilterModule = {
  key: 'rateLimit',
  // Its schema fragment is config/schema.ts's RouteRateLimit (it shares types with the global rateLimit section).
  order: 300,
  compile(route, env) {
    const rl = route.config.rateLimit as ResolvedRouteRateLimit | undefined;
    if (rl === undefined) return null;
    const limits = new RouteRateLimit(route.name, rl, env.services.get(RATE_LIMIT_ENV) as RateLimitEnv);
    return {
      name: 'rate-limit',
      onRequest(ctx) {
        const o = limits.check(ctx);
        return o instanceof Promise ? o.then((r) => verdict(ctx, r)) : verdict(ctx, o);
      },
    };
  },
};
