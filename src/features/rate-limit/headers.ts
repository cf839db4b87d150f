// Response fields for rate limits.
// draft-ietf-httpapi-ratelimit-headers (-08 and later): two Structured Field
// Lists (RFC 9651) of String items with Integer parameters,
//   RateLimit-Policy: "per-second";q=10;w=1, "hourly";q=1000;w=3600
//   RateLimit: "per-second";r=3;t=1
// q = quota, w = window (s), r = remaining, t = seconds until the quota is back.
// Legacy: X-RateLimit-Limit / -Remaining / -Reset for the most restrictive limit.
import type { Decision } from './algorithms.js';

export type HeaderMode = 'draft' | 'legacy' | 'both' | 'none';

export interface PolicyInfo {
  readonly name: string;
  readonly limit: number;
  readonly windowMs: number;
}

/** An sf-string: policy names are [A-Za-z0-9_.-], escaping keeps any name valid anyway. */
const sfString = (s: string): string => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

/** The static RateLimit-Policy value of a route (computed once per config version). */
export function policyValue(policies: readonly PolicyInfo[]): string {
  return policies.map((p) => `${sfString(p.name)};q=${p.limit};w=${Math.max(1, Math.ceil(p.windowMs / 1000))}`).join(', ');
}

const seconds = (ms: number): number => Math.max(0, Math.ceil(ms / 1000));

/** Policy names are few and fixed per config: quote each once. */
const quoted = new Map<string, string>();
function quote(name: string): string {
  let q = quoted.get(name);
  if (q === undefined) {
    q = sfString(name);
    if (quoted.size < 10_000) quoted.set(name, q);
  }
  return q;
}

/** Header list (flat name, value) for the decisions of one request. */
export function rateLimitHeaders(mode: HeaderMode, policies: readonly PolicyInfo[], policy: string, decisions: readonly Decision[]): string[] {
  const out: string[] = [];
  if (mode === 'none' || decisions.length === 0) return out;
  if (mode === 'draft' || mode === 'both') {
    out.push('ratelimit-policy', policy);
    let v = '';
    for (let i = 0; i < decisions.length; i++) {
      const d = decisions[i]!;
      v += `${i === 0 ? '' : ', '}${quote(policies[i]!.name)};r=${d.remaining};t=${seconds(d.resetMs)}`;
    }
    out.push('ratelimit', v);
  }
  if (mode === 'legacy' || mode === 'both') {
    let m = 0;
    for (let i = 1; i < decisions.length; i++) if (decisions[i]!.remaining < decisions[m]!.remaining) m = i;
    out.push('x-ratelimit-limit', String(policies[m]!.limit));
    out.push('x-ratelimit-remaining', String(decisions[m]!.remaining));
    out.push('x-ratelimit-reset', String(seconds(decisions[m]!.resetMs)));
  }
  return out;
}
