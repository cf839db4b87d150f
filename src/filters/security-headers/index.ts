// Security response headers (route key `securityHeaders`): a preset plus
// per-route overrides, set on every response of the route (the upstream's
// and the gateway's own errors alike), replacing what the upstream sent
// under those names. Strict-Transport-Security goes out only on requests
// that came over https (RFC 6797 §7.2: ignored over plain HTTP anyway).
import type { RequestContext } from '../../pipeline/context.js';
import type { FilterModule, ResponseHead } from '../../pipeline/filter.js';
import type { SecurityHeadersConfig } from './schema.js';

const HSTS = 'strict-transport-security';

export const PRESETS: Record<'basic' | 'strict', Readonly<Record<string, string>>> = {
  basic: {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'SAMEORIGIN',
    'content-security-policy': "frame-ancestors 'self'",
    'referrer-policy': 'strict-origin-when-cross-origin',
    [HSTS]: 'max-age=31536000; includeSubDomains',
  },
  // For APIs and pages that load nothing from elsewhere: a page that needs scripts or styles overrides the CSP.
  strict: {
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'permissions-policy': 'accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()',
    [HSTS]: 'max-age=31536000; includeSubDomains',
  },
};

/** The flat [name, value, ...] lists for plain-HTTP and https requests. */
export function compileSecurityHeaders(cfg: SecurityHeadersConfig): { http: readonly string[]; https: readonly string[] } {
  const merged: Record<string, string | false> = { ...PRESETS[cfg.preset ?? 'basic'], ...cfg.headers };
  const https: string[] = [];
  const http: string[] = [];
  for (const [k, v] of Object.entries(merged)) {
    if (v === false) continue;
    https.push(k, v);
    if (k !== HSTS) http.push(k, v);
  }
  return { http, https };
}

/** Replaces the names in `set` (every value the head had under them) and appends `set`. */
export function replaceHeaders(head: ResponseHead, set: readonly string[]): void {
  const h = head.headers;
  let w = 0;
  for (let i = 0; i < h.length; i += 2) {
    const k = h[i]!;
    let ours = false;
    for (let j = 0; j < set.length; j += 2) {
      if (set[j] === k) {
        ours = true;
        break;
      }
    }
    if (ours) continue;
    h[w++] = k;
    h[w++] = h[i + 1]!;
  }
  h.length = w;
  for (const v of set) h.push(v);
}

export const securityHeadersFilter: FilterModule = {
  key: 'securityHeaders',
  order: 950,
  compile(route) {
    const cfg = route.config.securityHeaders as SecurityHeadersConfig | undefined;
    if (cfg === undefined) return null;
    const lists = compileSecurityHeaders(cfg);
    if (lists.https.length === 0) return null;
    return {
      name: 'securityHeaders',
      onResponseHeaders(ctx: RequestContext, head: ResponseHead) {
        replaceHeaders(head, ctx.listener.scheme === 'https' ? lists.https : lists.http);
      },
    };
  },
};
