// Load-time check of ipAccess lists (config code loads this, never the filter).
import type { Issue } from '../../config/errors.js';
import { cidrError } from '../../features/rate-limit/client-ip.js';

/** Load-time check: every entry an address or CIDR range. */
export function checkIpAccess(root: Record<string, unknown>): Issue[] {
  const issues: Issue[] = [];
  if (!Array.isArray(root.routes)) return issues;
  root.routes.forEach((r: unknown, i) => {
    const cfg = (r as { ipAccess?: Record<string, unknown> } | null)?.ipAccess;
    if (cfg === null || typeof cfg !== 'object') return;
    for (const list of ['allow', 'deny'] as const) {
      const v = cfg[list];
      if (!Array.isArray(v)) continue;
      v.forEach((e, n) => {
        const err = typeof e === 'string' ? cidrError(e) : undefined;
        if (err !== undefined) issues.push({ at: ['routes', i, 'ipAccess', list, n], message: err });
      });
    }
  });
  return issues;
}
