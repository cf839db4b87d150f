// The rate-limit feature of a route: its onRequest phase. Compiled once per
// config version; per request it builds each limit's key, takes from the
// local tier (a CAS on a shared-memory cell: exact across this machine's
// workers, no IPC) or the global tier (Redis), and answers 429 itself when a
// limit says no, so a rejected request never reaches the upstream.
// Synchronous unless a limit is global.
import type { BlockList } from 'node:net';
import type { ResolvedConfig, ResolvedLimit, ResolvedRouteRateLimit } from '../../config/load.js';
import type { RequestContext } from '../../pipeline/context.js';
import type { StateStore } from '../../state/store.js';
import { localAlgorithm, maxCost, refund, take, ttlSeconds, type Decision, type LimitSpec, type Verdict } from './algorithms.js';
import { blockList, contains, groupAddress, requestClientAddress } from './client-ip.js';
import { policyValue, rateLimitHeaders, type HeaderMode } from './headers.js';

/** The Redis tier as this feature sees it (src/features/rate-limit/redis-tier.ts). */
export interface GlobalTier {
  take(spec: GlobalSpec, key: string, cost: number): Promise<Decision>;
  refund(spec: GlobalSpec, key: string, cost: number): Promise<void>;
}

/** `prefix`: the table key's fixed part (`id` + separator); the request's key follows it. */
type LocalSpec = LimitSpec & { id: string; prefix: string };
type GlobalSpec = Omit<LimitSpec, 'algorithm'> & { id: string; algorithm: ResolvedLimit['algorithm'] };

export interface RateLimitEnv {
  readonly store: StateStore;
  readonly global: GlobalTier | null;
  readonly trusted: BlockList | null;
  readonly ipv6Prefix: number;
  readonly consumerHeader: string;
}

export function rateLimitEnv(config: ResolvedConfig, store: StateStore, global: GlobalTier | null): RateLimitEnv {
  const rl = config.rateLimit;
  return { store, global, trusted: blockList(rl.trustedProxies), ipv6Prefix: rl.ipv6PrefixLength, consumerHeader: rl.consumerHeader };
}

/** What the route does with the request: go on (with headers for the response) or answer. */
export interface Outcome {
  /** null: admitted. retryAfterSec 0: no Retry-After (waiting would not help). */
  reject: { status: 429 | 503; code: 'WICKET_ERR_RATE_LIMITED' | 'WICKET_ERR_RATE_LIMIT_UNAVAILABLE'; retryAfterSec: number } | null;
  headers: string[];
}

const SEP = '\u001f';
/** Metric cells live for years: they are counters, not limit state. */
const METRIC_TTL = 10 * 365 * 24 * 3600;

class CompiledLimit {
  readonly spec: ResolvedLimit;
  /** The spec the local tier runs (tier local; config refuses a local sliding-log). */
  readonly local: LocalSpec;
  /** The local spec used while Redis is away (limit x localShare; a sliding log falls back to the sliding window). */
  readonly fallback: LocalSpec;
  readonly ttl: number;
  readonly fallbackTtl: number;
  /** maxCost of the limit (a sliding log admits up to its limit, as its local form does). */
  readonly maxCost: number;
  /** The same for the local fallback while Redis is away (its limit and burst are x localShare). */
  readonly fallbackMaxCost: number;
  readonly exemptIps: BlockList | null;
  readonly exemptConsumers: ReadonlySet<string>;
  readonly exemptHeaders: [string, string][];
  readonly allowedKey: string;
  readonly limitedKey: string;
  allowed = 0;
  limited = 0;
  flushing = false;

  constructor(spec: ResolvedLimit) {
    this.spec = spec;
    const share = Math.max(1, Math.floor(spec.limit * spec.localShare));
    const algorithm = localAlgorithm(spec.algorithm);
    this.local = { ...spec, algorithm, prefix: `${spec.id}${SEP}` };
    const fallbackId = `${spec.id}#local`;
    this.fallback = { ...spec, algorithm, id: fallbackId, prefix: `${fallbackId}${SEP}`, limit: share, burst: Math.max(1, Math.floor(spec.burst * spec.localShare)) };
    this.maxCost = maxCost(this.local);
    this.fallbackMaxCost = maxCost(this.fallback);
    this.ttl = ttlSeconds(this.local);
    this.fallbackTtl = ttlSeconds(this.fallback);
    this.exemptIps = blockList(spec.exempt.ips);
    this.exemptConsumers = new Set(spec.exempt.consumers);
    this.exemptHeaders = Object.entries(spec.exempt.headers);
    this.allowedKey = `\u0000m${SEP}${spec.id}${SEP}allowed`;
    this.limitedKey = `\u0000m${SEP}${spec.id}${SEP}limited`;
  }
}

export class RouteRateLimit {
  readonly #route: string;
  readonly #limits: CompiledLimit[];
  readonly #mode: HeaderMode;
  readonly #policy: string;
  readonly #env: RateLimitEnv;
  readonly #async: boolean;
  readonly #verdict: Verdict = { allowed: true, remaining: 0, resetMs: 0, retryAfterMs: 0 };

  constructor(route: string, rl: ResolvedRouteRateLimit, env: RateLimitEnv) {
    this.#route = route;
    this.#limits = rl.limits.map((l) => new CompiledLimit(l));
    this.#mode = rl.headers;
    this.#policy = policyValue(rl.limits);
    this.#env = env;
    this.#async = rl.limits.some((l) => l.tier === 'global');
  }

  /** Synchronous when every limit is local. */
  check(ctx: RequestContext): Outcome | Promise<Outcome> {
    return this.#async ? this.#checkAsync(ctx) : this.#checkSync(ctx);
  }

  #checkSync(ctx: RequestContext): Outcome {
    const decisions: Decision[] = [];
    // The limits that applied (exempt ones did not), in step with `decisions`.
    const used: ResolvedLimit[] = [];
    let ip: string | null = null;
    const limits = this.#limits;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      ip ??= this.#clientIp(ctx);
      if (this.#exempt(l, ctx, ip)) continue;
      const cost = this.#cost(l, ctx);
      if (cost > l.maxCost) return this.#never(ctx, ip, i, 0, l);
      const d = this.#local(l.local, l.ttl, this.#key(l, ctx, ip), cost);
      this.#count(l, d.allowed);
      decisions.push(d);
      used.push(l.spec);
      if (!d.allowed) {
        this.#giveBack(ctx, ip, i, 0);
        return this.#rejected(used, decisions, d);
      }
    }
    return { reject: null, headers: rateLimitHeaders(this.#mode, used, this.#policy, decisions) };
  }

  async #checkAsync(ctx: RequestContext): Promise<Outcome> {
    const decisions: Decision[] = [];
    const used: ResolvedLimit[] = [];
    const ip = this.#clientIp(ctx);
    const limits = this.#limits;
    // Bit i: limit i was taken from its local fallback (Redis was away).
    let fellBack = 0;
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      if (this.#exempt(l, ctx, ip)) continue;
      const key = this.#key(l, ctx, ip);
      const cost = this.#cost(l, ctx);
      if (cost > l.maxCost) return this.#never(ctx, ip, i, fellBack, l);
      let d: Decision;
      if (l.spec.tier === 'local') d = this.#local(l.local, l.ttl, key, cost);
      else {
        try {
          if (this.#env.global === null) throw new Error('no redis tier');
          d = await this.#env.global.take(l.spec, key, cost);
        } catch {
          if (l.spec.onRedisFailure === 'closed') {
            this.#giveBack(ctx, ip, i, fellBack);
            return { reject: { status: 503, code: 'WICKET_ERR_RATE_LIMIT_UNAVAILABLE', retryAfterSec: 1 }, headers: [] };
          }
          fellBack |= 1 << i;
          if (cost > l.fallbackMaxCost) return this.#never(ctx, ip, i, fellBack, l);
          d = this.#local(l.fallback, l.fallbackTtl, key, cost);
        }
      }
      this.#count(l, d.allowed);
      decisions.push(d);
      used.push(l.spec);
      if (!d.allowed) {
        this.#giveBack(ctx, ip, i, fellBack);
        return this.#rejected(used, decisions, d);
      }
    }
    return { reject: null, headers: rateLimitHeaders(this.#mode, used, this.#policy, decisions) };
  }

  /**
   * A request refused by limit `upTo` gives back what the limits before it
   * took: a client hammering a 10/s limit must not drain the hourly one with
   * requests that were never admitted. Keys and costs are computed again (they
   * depend only on the request), so the admitted path allocates nothing for
   * this. Refunds to Redis are best effort (not awaited; a failure leaves the
   * units taken).
   */
  #giveBack(ctx: RequestContext, ip: string, upTo: number, fellBack: number): void {
    const limits = this.#limits;
    for (let i = 0; i < upTo; i++) {
      const l = limits[i]!;
      if (this.#exempt(l, ctx, ip)) continue;
      const key = this.#key(l, ctx, ip);
      const cost = this.#cost(l, ctx);
      if (l.spec.tier === 'local' || (fellBack & (1 << i)) !== 0) {
        const spec = l.spec.tier === 'local' ? l.local : l.fallback;
        const now = Date.now();
        this.#env.store.table.update(spec.prefix, l.spec.tier === 'local' ? l.ttl : l.fallbackTtl, (old) => refund(spec, old, now, cost), key);
      } else this.#env.global?.refund(l.spec, key, cost).catch(() => {});
    }
  }

  /**
   * A request whose cost is above what limit `i` can ever admit (a cost
   * header larger than the burst): refused without taking anything and
   * without Retry-After, since waiting would not help.
   */
  #never(ctx: RequestContext, ip: string, i: number, fellBack: number, l: CompiledLimit): Outcome {
    this.#giveBack(ctx, ip, i, fellBack);
    this.#count(l, false);
    return { reject: { status: 429, code: 'WICKET_ERR_RATE_LIMITED', retryAfterSec: 0 }, headers: [] };
  }

  #rejected(used: ResolvedLimit[], decisions: Decision[], d: Decision): Outcome {
    return {
      reject: { status: 429, code: 'WICKET_ERR_RATE_LIMITED', retryAfterSec: Math.max(1, Math.ceil(d.retryAfterMs / 1000)) },
      headers: rateLimitHeaders(this.#mode, used, this.#policy, decisions),
    };
  }

  /** One CAS on the key's shared-memory cell; a full table admits (and is counted and logged). */
  #local(spec: LocalSpec, ttl: number, key: string, cost: number): Decision {
    const v = this.#verdict;
    // The CAS callback is one bound function fed through fields: no closure per request.
    this.#takeSpec = spec;
    this.#takeNow = Date.now();
    this.#takeCost = cost;
    const stored = this.#env.store.table.update(spec.prefix, ttl, this.#takeFn, key);
    if (stored === undefined) return { allowed: true, remaining: spec.limit, resetMs: 0, retryAfterMs: 0 };
    return { allowed: v.allowed, remaining: v.remaining, resetMs: v.resetMs, retryAfterMs: v.retryAfterMs };
  }

  #takeSpec: LimitSpec = { algorithm: 'gcra', limit: 1, windowMs: 1, burst: 1 };
  #takeNow = 0;
  #takeCost = 1;
  readonly #takeFn = (old: bigint): bigint => take(this.#takeSpec, old, this.#takeNow, this.#takeCost, this.#verdict);

  #count(l: CompiledLimit, allowed: boolean): void {
    if (allowed) l.allowed++;
    else l.limited++;
    if (!l.flushing) {
      // Counted here, added to the shared cells once a second: a table update
      // per request would cost as much as the limit itself.
      l.flushing = true;
      pending.set(l, this.#env.store);
      setTimeout(flushCounts, 1000, l, this.#env.store).unref();
    }
  }

  /** The verified identity on routes with auth (it runs first); else the consumer header, trusted as before auth existed. */
  #consumer(ctx: RequestContext): string {
    return ctx.identity?.consumer ?? ctx.header(this.#env.consumerHeader) ?? '';
  }

  #clientIp(ctx: RequestContext): string {
    return requestClientAddress(ctx, this.#env.trusted);
  }

  #exempt(l: CompiledLimit, ctx: RequestContext, ip: string): boolean {
    if (l.exemptIps !== null && contains(l.exemptIps, ip)) return true;
    if (l.exemptConsumers.size > 0) {
      if (l.exemptConsumers.has(this.#consumer(ctx))) return true;
    }
    for (const [name, value] of l.exemptHeaders) if (ctx.header(name) === value) return true;
    return false;
  }

  #key(l: CompiledLimit, ctx: RequestContext, ip: string): string {
    const parts = l.spec.key;
    let key = '';
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      const v =
        p === 'ip' ? groupAddress(ip, this.#env.ipv6Prefix)
        : p === 'route' ? this.#route
        : p === 'consumer' ? this.#consumer(ctx)
        : (ctx.header(p.slice(7)) ?? '');
      key = i === 0 ? v : key + SEP + v;
    }
    return key;
  }

  #cost(l: CompiledLimit, ctx: RequestContext): number {
    if (l.spec.costHeader === undefined) return l.spec.cost;
    const raw = ctx.header(l.spec.costHeader);
    const n = raw === undefined ? NaN : Number(raw);
    return Number.isInteger(n) && n >= 1 && n <= 1_000_000 ? n : 1;
  }
}

/** Limits with counts not yet in the shared cells (a worker flushes them as it exits). */
const pending = new Map<CompiledLimit, StateStore>();

/** Adds every count not yet flushed to the shared cells: called by a worker on its way out. */
export function flushPendingCounts(): void {
  for (const [l, store] of pending) flushCounts(l, store);
}

function flushCounts(l: CompiledLimit, store: StateStore): void {
  pending.delete(l);
  if (!l.flushing) return; // flushed already (the worker's exit came first)
  l.flushing = false;
  const a = l.allowed;
  const b = l.limited;
  l.allowed = 0;
  l.limited = 0;
  if (a > 0) store.table.update(l.allowedKey, METRIC_TTL, (n) => n + BigInt(a));
  if (b > 0) store.table.update(l.limitedKey, METRIC_TTL, (n) => n + BigInt(b));
}

/** The key a limit uses for a request, as an operator types it for the admin API (parts joined by ","). */
export function adminKey(spec: ResolvedLimit, parts: string): string {
  return `${spec.id}${SEP}${parts.split(',').join(SEP)}`;
}

/** Counter cells of a limit, read by the supervisor for metrics. */
export function metricKeys(spec: ResolvedLimit): { allowed: string; limited: string } {
  return { allowed: `\u0000m${SEP}${spec.id}${SEP}allowed`, limited: `\u0000m${SEP}${spec.id}${SEP}limited` };
}
