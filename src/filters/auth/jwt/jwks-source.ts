// One provider's JWKS, fetched by the supervisor for the whole gateway (the
// workers get it over IPC: control.ts). Kept for the response's
// Cache-Control max-age clamped to [minTtl, maxTtl]; a failed fetch keeps
// the last good set (stale) and retries with backoff; a refetch for an
// unknown kid runs at most once per cooldown.
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { jwksKeys } from './keys.js';
import type { ProviderConfig } from './schema.js';

/** Largest JWKS document read. */
const MAX_BYTES = 1024 * 1024;
/** Used when the response says nothing about caching. */
const DEFAULT_TTL_S = 300;
const RETRY_MAX_S = 60;

/** The URL as logs show it: no credentials, no query (it may carry a key). */
export function safeUrl(raw: string): string {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(bad url)';
  }
}

/** max-age from Cache-Control (null: none; no-store/no-cache count as 0). */
export function maxAge(cacheControl: string | null): number | null {
  if (cacheControl === null) return null;
  if (/(^|,)\s*no-(store|cache)\b/i.test(cacheControl)) return 0;
  const m = /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?/i.exec(cacheControl);
  return m === null ? null : Number(m[1]);
}

async function readLimited(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > MAX_BYTES) {
      await reader.cancel();
      throw new Error(`larger than ${MAX_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class JwksSource {
  /** The last good set (null: none yet). */
  keys: Record<string, unknown>[] | null = null;
  lastSuccessMs = 0;
  /** The last fetch failed (the last good set, if any, still serves). */
  stale = false;
  fetchesOk = 0;
  fetchesFailed = 0;
  /** Refetches for an unknown kid: run, and refused by the cooldown. */
  refetches = 0;
  refetchesRefused = 0;
  /** When the next scheduled fetch runs, in seconds from the last one's end (the clamped TTL, or the retry delay). */
  nextFetchSeconds = 0;
  #cfg: ProviderConfig;
  #timer: NodeJS.Timeout | null = null;
  #inflight: Promise<void> | null = null;
  #lastRefetchMs = -Infinity;
  #failures = 0;
  #closed = false;

  constructor(
    readonly provider: string,
    readonly url: string,
    cfg: ProviderConfig,
    private log: Logger,
    /** A new set was fetched (changed or not). */
    private onKeys: (keys: Record<string, unknown>[]) => void,
  ) {
    this.#cfg = cfg;
    void this.fetch();
  }

  /** New settings for the same URL (TTLs, cooldown, algorithms). */
  update(cfg: ProviderConfig): void {
    const refilter = !isDeepStrictEqual(cfg.algorithms, this.#cfg.algorithms);
    this.#cfg = cfg;
    // The set was filtered by the old algorithm list: fetch it again rather than serve a stale filter.
    if (refilter) void this.fetch();
  }

  /** A worker saw an unknown kid: refetch unless one ran within the cooldown. Resolves once settled. */
  refetch(now: number): Promise<void> {
    if (this.#inflight !== null) return this.#inflight;
    if (now - this.#lastRefetchMs < (this.#cfg.cooldownSeconds ?? 30) * 1000) {
      this.refetchesRefused++;
      return Promise.resolve();
    }
    this.#lastRefetchMs = now;
    this.refetches++;
    return this.fetch();
  }

  fetch(): Promise<void> {
    if (this.#inflight !== null) return this.#inflight;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#inflight = this.#fetchOnce().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #fetchOnce(): Promise<void> {
    let next: number;
    try {
      const res = await fetch(this.url, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.#cfg.fetchTimeoutMs ?? 5000),
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`status ${res.status}`);
      }
      let doc: unknown;
      try {
        doc = JSON.parse(await readLimited(res));
      } catch (err) {
        throw new Error(err instanceof SyntaxError ? 'not JSON' : (err as Error).message);
      }
      const { keys, skipped } = jwksKeys(doc, this.#cfg.algorithms);
      if (keys.length === 0) throw new Error(`no usable key${skipped.length > 0 ? ` (${skipped.join('; ')})` : ''}`);
      if (this.#closed) return;
      if (skipped.length > 0) this.log.warn({ provider: this.provider, skipped }, 'JWKS keys left out');
      if (this.stale) this.log.info({ provider: this.provider, url: safeUrl(this.url) }, 'JWKS fetched again');
      this.keys = keys;
      this.lastSuccessMs = Date.now();
      this.stale = false;
      this.#failures = 0;
      this.fetchesOk++;
      const min = this.#cfg.minTtlSeconds ?? 60;
      const max = this.#cfg.maxTtlSeconds ?? 3600;
      next = Math.min(max, Math.max(min, maxAge(res.headers.get('cache-control')) ?? DEFAULT_TTL_S));
      this.onKeys(keys);
    } catch (err) {
      if (this.#closed) return;
      this.fetchesFailed++;
      this.#failures++;
      // Logged when it starts failing, then every tenth try: an endpoint down for an hour is not a log flood.
      if (!this.stale || this.#failures % 10 === 0) {
        const reason = (err as Error).name === 'TimeoutError' ? 'timed out' : ((err as { cause?: Error }).cause?.message ?? (err as Error).message);
        this.log.warn({ provider: this.provider, url: safeUrl(this.url), reason, failures: this.#failures, serving: this.keys === null ? 'no keys' : 'last good set' }, 'JWKS fetch failed');
      }
      this.stale = true;
      next = Math.min(RETRY_MAX_S, this.#cfg.minTtlSeconds ?? 60, 2 ** (this.#failures - 1));
    }
    if (this.#closed) return;
    this.nextFetchSeconds = next;
    this.#timer = setTimeout(() => void this.fetch(), next * 1000);
    this.#timer.unref();
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
