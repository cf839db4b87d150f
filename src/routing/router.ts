// The route matcher. Routes are ranked once per config version: explicit
// `priority` (higher first, default 0), then specificity (exact > params >
// prefix/regex, longer literal first, more matchers first), then file order.
// A route wins only when every matcher passes; otherwise the next one in
// rank is tried. Exact paths are indexed in a hash map; the rest are a short
// ranked list. find-my-way and similar radix routers return one most-specific
// node and cannot fall through to a less specific route when a host/header/
// method matcher fails, nor honour an explicit priority across patterns.
import { compilePath, matchPath, type PathMatcher } from './path-pattern.js';
import { compileHosts, compileValueMatchers, testHost, testValue, type HostMatcher, type ValueMatcher } from './matchers.js';
import type { MatchConfig } from '../config/schema.js';
import type { EncodedSlashes } from './normalize.js';

/** What the router needs from a request; the listener's context implements it. */
export interface Routable {
  readonly method: string;
  readonly path: string;
  /** Lower-case host without port, '' when absent. */
  readonly hostname: string;
  header(name: string): string | undefined;
  queryParam(name: string): string | undefined;
  /** Set by the router on a match. */
  params: Record<string, string>;
}

export interface RouteMatchers {
  readonly path: PathMatcher;
  readonly methods: ReadonlySet<string> | null;
  readonly hosts: HostMatcher | null;
  readonly headers: ValueMatcher[] | null;
  readonly query: ValueMatcher[] | null;
}

export interface Rankable<T> {
  readonly priority: number;
  readonly index: number;
  readonly matchers: RouteMatchers;
  readonly value: T;
}

export function compileMatchers(m: MatchConfig, slashes: EncodedSlashes = 'keep'): RouteMatchers {
  const hosts = m.host === undefined ? undefined : Array.isArray(m.host) ? m.host : [m.host];
  return {
    path: compilePath(m.path, m.pathRegex, slashes),
    methods: m.methods ? new Set(m.methods.map((x) => x.toUpperCase())) : null,
    hosts: compileHosts(hosts),
    headers: compileValueMatchers(m.headers, true),
    query: compileValueMatchers(m.query, false),
  };
}

const KIND_RANK = { exact: 3, param: 2, prefix: 1, regex: 1 } as const;

function specificity(m: RouteMatchers): number[] {
  return [
    KIND_RANK[m.path.kind],
    m.path.literalLength,
    (m.hosts ? 1 : 0) + (m.methods ? 1 : 0) + (m.headers?.length ?? 0) + (m.query?.length ?? 0),
  ];
}

export function compareRoutes<T>(a: Rankable<T>, b: Rankable<T>): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  const sa = specificity(a.matchers);
  const sb = specificity(b.matchers);
  for (let i = 0; i < sa.length; i++) if (sa[i] !== sb[i]) return sb[i]! - sa[i]!;
  return a.index - b.index;
}

interface Entry<T> {
  readonly rank: number;
  readonly m: RouteMatchers;
  readonly value: T;
}

export class Router<T> {
  readonly #exact = new Map<string, Entry<T>[]>();
  readonly #patterns: Entry<T>[] = [];

  constructor(routes: readonly Rankable<T>[]) {
    const sorted = [...routes].sort(compareRoutes);
    sorted.forEach((r, rank) => {
      const e: Entry<T> = { rank, m: r.matchers, value: r.value };
      if (r.matchers.path.kind === 'exact') {
        const list = this.#exact.get(r.matchers.path.literal);
        if (list) list.push(e);
        else this.#exact.set(r.matchers.path.literal, [e]);
      } else this.#patterns.push(e);
    });
  }

  find(req: Routable): T | null {
    const exact = this.#exact.get(req.path);
    const pats = this.#patterns;
    let i = 0;
    let j = 0;
    const ne = exact === undefined ? 0 : exact.length;
    // Merge the two rank-ordered lists.
    while (i < ne || j < pats.length) {
      let e: Entry<T>;
      if (j >= pats.length || (i < ne && exact![i]!.rank < pats[j]!.rank)) e = exact![i++]!;
      else e = pats[j++]!;
      const params = test(e.m, req);
      if (params !== null) {
        req.params = params;
        return e.value;
      }
    }
    return null;
  }
}

function test(m: RouteMatchers, req: Routable): Record<string, string> | null {
  if (m.methods !== null && !m.methods.has(req.method)) return null;
  if (m.hosts !== null && !testHost(m.hosts, req.hostname)) return null;
  if (m.headers !== null) for (const h of m.headers) if (!testValue(h, req.header(h.name))) return null;
  if (m.query !== null) for (const q of m.query) if (!testValue(q, req.queryParam(q.name))) return null;
  return matchPath(m.path, req.path);
}
