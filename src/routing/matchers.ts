// Host, header and query matchers, compiled once per config version.
import type { StringMatchConfig } from '../config/schema.js';

export interface ValueMatcher {
  readonly name: string;
  /** 0 exact, 1 regex, 2 present, 3 absent */
  readonly kind: 0 | 1 | 2 | 3;
  readonly value: string;
  readonly regex: RegExp | null;
}

export function compileValueMatchers(spec: Record<string, StringMatchConfig> | undefined, lowerNames: boolean): ValueMatcher[] | null {
  if (!spec) return null;
  const out: ValueMatcher[] = [];
  for (const [rawName, m] of Object.entries(spec)) {
    const name = lowerNames ? rawName.toLowerCase() : rawName;
    if (typeof m === 'string') out.push({ name, kind: 0, value: m, regex: null });
    else if ('regex' in m) out.push({ name, kind: 1, value: '', regex: new RegExp(m.regex) });
    else out.push({ name, kind: m.present ? 2 : 3, value: '', regex: null });
  }
  return out.length ? out : null;
}

export function testValue(m: ValueMatcher, v: string | undefined): boolean {
  switch (m.kind) {
    case 0:
      return v === m.value;
    case 1:
      return v !== undefined && m.regex!.test(v);
    case 2:
      return v !== undefined;
    case 3:
      return v === undefined;
  }
}

export interface HostMatcher {
  readonly exact: ReadonlySet<string>;
  /** ".example.com" for "*.example.com" */
  readonly suffixes: readonly string[];
}

export function compileHosts(hosts: readonly string[] | undefined): HostMatcher | null {
  if (!hosts || hosts.length === 0) return null;
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const h of hosts) {
    const l = h.toLowerCase();
    if (l.startsWith('*.')) suffixes.push(l.slice(1));
    else exact.add(l);
  }
  return { exact, suffixes };
}

/** `host` is lower-case and without port. */
export function testHost(m: HostMatcher, host: string): boolean {
  if (m.exact.has(host)) return true;
  for (const s of m.suffixes) if (host.length > s.length && host.endsWith(s)) return true;
  return false;
}
