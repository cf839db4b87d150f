// The global rate-limit tier: one atomic Lua script per algorithm on Redis
// (ioredis `defineCommand`: EVALSHA, EVAL when the script is not loaded on
// the connection), so every gateway that shares the Redis shares the limit
// exactly. The clock is Redis's own (`TIME` inside the script): gateways with
// skewed clocks still agree on windows and arrival times.
//
// A call never waits past `deadlineMs`: our own timer rejects at the deadline
// whatever the client does (a reply that comes later is ignored), the client
// fails at once when not connected (no offline queue, no retries of in-flight
// commands on reconnect, so a decision already given up is never replayed),
// and a circuit opens after `failureThreshold` failures in a row, so a dead or
// stalled Redis costs nothing per request until one probe is let through after
// `openMs` (or the connection is re-established). Reconnects run in the
// background with capped exponential backoff.
//
// Keys are `${keyPrefix}:{${spec.id}:${key}}`: the whole variable part is the
// hash tag (one key per script call, so Redis Cluster never sees a cross-slot
// call). A user key that is long (> 200 bytes), contains a brace, or starts
// with '#' is replaced by '#' + its SHA-1 (so a client can't pick a key that
// collides with a hashed one).
//
// State in Redis (all times in microseconds since the Unix epoch, from TIME):
// - gcra: a string, the theoretical arrival time (TAT);
// - fixed-window: a hash {w: window id, c: count};
// - sliding-window: a hash {w: window id, c: current count, p: previous count}.
// Internally the scripts work in whole microseconds; the per-unit emission
// interval T = windowMs/limit is rounded up to a whole microsecond, so the
// GCRA arithmetic is exact integer arithmetic (no drift over a burst).
// Decisions are reported in whole milliseconds (remaining floored, times
// rounded up).
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';

export type Algorithm = 'gcra' | 'fixed-window' | 'sliding-window';

export interface LimitSpec {
  /** Stable id of route + limit; part of the Redis key (must not contain braces). */
  id: string;
  algorithm: Algorithm;
  limit: number;
  windowMs: number;
  /** GCRA only: bucket size in units; defaults to `limit`. */
  burst?: number;
}

export interface Decision {
  allowed: boolean;
  remaining: number;
  /** ms until the quota is fully back (gcra) or the window ends. */
  resetMs: number;
  /** ms until this request would be allowed; 0 when allowed. */
  retryAfterMs: number;
}

export interface PeekResult {
  /** The Redis key the state lives under. */
  key: string;
  /** gcra: [TAT µs]; windows: HGETALL as a flat [field, value, ...]; null when absent. */
  raw: string[] | null;
  /** PTTL: ms until the key expires (-2 when absent). */
  ttlMs: number;
}

/** The part of a pino logger this uses. */
export interface TierLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface RedisTierOptions {
  /** redis:// or rediss:// URL (a password in it is never logged). */
  url: string;
  /** No call waits longer than this. */
  deadlineMs: number;
  /** Prefix of every key (e.g. "wicket:rl"). */
  keyPrefix: string;
  /** Failures/timeouts in a row that open the circuit (default 3). */
  failureThreshold?: number;
  /** How long the circuit stays open before one probe is let through (default 1000). */
  openMs?: number;
  /** Cap of the reconnect backoff (default 2000). */
  reconnectMaxMs?: number;
  log?: TierLogger;
}

export type RedisTierErrorCode = 'WICKET_ERR_REDIS_UNAVAILABLE' | 'WICKET_ERR_REDIS_TIMEOUT';

export class RedisTierError extends Error {
  constructor(
    readonly code: RedisTierErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RedisTierError';
  }
}

export type CircuitState = 'closed' | 'open' | 'half-open';

// --- scripts -----------------------------------------------------------------

// Shared prologue: `now` in µs from Redis's clock (ARGV[4] overrides it, only
// for tests: see takeAt), `ms()` rounds µs up to ms, `fdiv()` is an exact
// floor of a quotient of integers.
const PROLOGUE = `
local key = KEYS[1]
local now
if ARGV[4] and ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local function ms(us)
  return math.ceil(us / 1000)
end
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end
`;

// ARGV: T (µs per unit), B (burst, units), cost, [now µs].
const GCRA = `${PROLOGUE}
local T = tonumber(ARGV[1])
local B = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = now
local stored = redis.pcall('GET', key)
if type(stored) == 'table' and stored.err then
  redis.call('DEL', key)
elseif stored then
  local s = tonumber(stored)
  if s and s > now then tat = s end
end
local cap = B * T
local newTat = tat + cost * T
if newTat - now > cap then
  local rem = fdiv(cap - (tat - now), T)
  if rem < 0 then rem = 0 end
  return {0, rem, ms(tat - now), ms(newTat - now - cap)}
end
redis.call('SET', key, string.format('%.0f', newTat), 'PX', ms(newTat - now) + 1000)
return {1, fdiv(cap - (newTat - now), T), ms(newTat - now), 0}
`;

// ARGV: W (µs), L, cost, [now µs].
const FIXED = `${PROLOGUE}
local W = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local id = math.floor(now / W)
local left = (id + 1) * W - now
local cur = 0
local h = redis.pcall('HMGET', key, 'w', 'c')
if h.err then
  redis.call('DEL', key)
elseif tonumber(h[1]) == id then
  cur = tonumber(h[2]) or 0
end
if cur + cost <= L then
  redis.call('HSET', key, 'w', string.format('%.0f', id), 'c', string.format('%.0f', cur + cost))
  redis.call('PEXPIRE', key, math.max(1, ms(left)))
  return {1, L - cur - cost, ms(left), 0}
end
local rem = L - cur
if rem < 0 then rem = 0 end
return {0, rem, ms(left), ms(left)}
`;

// ARGV: W (µs), L, cost, [now µs].
const SLIDING = `${PROLOGUE}
local W = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local id = math.floor(now / W)
local elapsed = now - id * W
local cur, prev = 0, 0
local h = redis.pcall('HMGET', key, 'w', 'c', 'p')
if h.err then
  redis.call('DEL', key)
else
  local w = tonumber(h[1])
  if w == id then
    cur = tonumber(h[2]) or 0
    prev = tonumber(h[3]) or 0
  elseif w == id - 1 then
    prev = tonumber(h[2]) or 0
  end
end
-- estimate = prev * (1 - elapsed/W) + cur, compared exactly in integers scaled by W.
local used = prev * (W - elapsed) + cur * W
local reset = ms(W - elapsed)
if used + cost * W <= L * W then
  redis.call('HSET', key, 'w', string.format('%.0f', id), 'c', string.format('%.0f', cur + cost), 'p', string.format('%.0f', prev))
  redis.call('PEXPIRE', key, ms(2 * W - elapsed))
  local rem = fdiv(L * W - used - cost * W, W)
  if rem < 0 then rem = 0 end
  return {1, rem, reset, 0}
end
local rem = fdiv(L * W - used, W)
if rem < 0 then rem = 0 end
local retry = reset
if prev > 0 and cur + cost <= L then
  -- t = W * (1 - (L - cur - cost) / prev); retry = ceil(max(0, t - elapsed)) in ms, at least 1
  local num = W * (prev - (L - cur - cost)) - elapsed * prev
  if num < 0 then num = 0 end
  retry = -fdiv(-num, prev * 1000)
  if retry < 1 then retry = 1 end
end
return {0, rem, reset, retry}
`;

const PEEK = `
local key = KEYS[1]
local t = redis.call('TYPE', key).ok
local raw = false
if t == 'string' then
  raw = {redis.call('GET', key)}
elseif t == 'hash' then
  raw = redis.call('HGETALL', key)
end
return {raw, redis.call('PTTL', key)}
`;

type ScriptFn = (key: string, ...args: (string | number)[]) => Promise<unknown>;
interface Scripts {
  wicketRlGcra: ScriptFn;
  wicketRlFixed: ScriptFn;
  wicketRlSliding: ScriptFn;
  wicketRlPeek: ScriptFn;
}

const COMMAND: Record<Algorithm, keyof Scripts> = {
  gcra: 'wicketRlGcra',
  'fixed-window': 'wicketRlFixed',
  'sliding-window': 'wicketRlSliding',
};

// --- keys ----------------------------------------------------------------------

const MAX_RAW_KEY_BYTES = 200;

/** The Redis key of `key` under `spec` (exported for tests and the admin API). */
export function redisKey(prefix: string, spec: Pick<LimitSpec, 'id'>, key: string): string {
  const part =
    key.length > MAX_RAW_KEY_BYTES || Buffer.byteLength(key) > MAX_RAW_KEY_BYTES || key.startsWith('#') || key.includes('{') || key.includes('}')
      ? `#${createHash('sha1').update(key).digest('hex')}`
      : key;
  return `${prefix}:{${spec.id}:${part}}`;
}

/** The URL with any password replaced (for logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@');
  }
}

// --- specs -----------------------------------------------------------------------

interface Prepared {
  readonly cmd: keyof Scripts;
  /** ARGV[1], ARGV[2]: T and B (gcra) or W and L (windows). */
  readonly a1: number;
  readonly a2: number;
}

function prepare(spec: LimitSpec): Prepared {
  const { id, algorithm, limit, windowMs } = spec;
  if (typeof id !== 'string' || id.includes('{') || id.includes('}')) throw new RangeError(`rate limit id must be a string without braces: ${String(id)}`);
  if (!(limit > 0) || !Number.isFinite(limit)) throw new RangeError(`rate limit ${id}: limit must be > 0`);
  if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`rate limit ${id}: windowMs must be > 0`);
  const cmd = COMMAND[algorithm];
  if (!cmd) throw new RangeError(`rate limit ${id}: unknown algorithm ${String(algorithm)}`);
  if (algorithm === 'gcra') {
    const burst = spec.burst ?? limit;
    if (!(burst > 0) || !Number.isFinite(burst)) throw new RangeError(`rate limit ${id}: burst must be > 0`);
    // Whole µs per unit, rounded up (the tolerance absorbs float noise in windowMs*1000/limit).
    const t = Math.max(1, Math.ceil((windowMs * 1000) / limit - 1e-9));
    return { cmd, a1: t, a2: burst };
  }
  return { cmd, a1: Math.max(1, Math.round(windowMs * 1000)), a2: limit };
}

function toDecision(reply: unknown): Decision {
  const r = reply as [number, number, number, number];
  if (!Array.isArray(r) || r.length !== 4) throw new Error(`unexpected script reply: ${JSON.stringify(reply)}`);
  return { allowed: r[0] === 1, remaining: r[1], resetMs: r[2], retryAfterMs: r[3] };
}

function toPeek(key: string, reply: unknown): PeekResult {
  const [raw, ttl] = reply as [string[] | null, number];
  return { key, raw: raw && raw.length ? raw : null, ttlMs: ttl };
}

// --- the tier ----------------------------------------------------------------------

export class RedisTier {
  readonly #redis: Redis & Scripts;
  readonly #deadlineMs: number;
  readonly #prefix: string;
  readonly #threshold: number;
  readonly #openMs: number;
  readonly #log: TierLogger | undefined;
  readonly #where: string;
  readonly #specs = new WeakMap<LimitSpec, Prepared>();

  #state: CircuitState = 'closed';
  #failures = 0;
  #openUntil = 0;
  #probing = false;
  /** Bumped whenever the circuit closes: a probe's late verdict from an older epoch is ignored. */
  #epoch = 0;
  #closed = false;
  /** Whether we logged the connection as up (transitions only are logged). */
  #up = false;
  #everUp = false;
  #downLogged = false;

  constructor(opts: RedisTierOptions) {
    if (!(opts.deadlineMs > 0)) throw new RangeError('redis deadlineMs must be > 0');
    this.#deadlineMs = opts.deadlineMs;
    this.#prefix = opts.keyPrefix;
    this.#threshold = Math.max(1, opts.failureThreshold ?? 3);
    this.#openMs = Math.max(1, opts.openMs ?? 1000);
    this.#log = opts.log;
    this.#where = redactUrl(opts.url);
    const capMs = Math.max(50, opts.reconnectMaxMs ?? 2000);
    const redis = new Redis(opts.url, {
      enableAutoPipelining: true,
      commandTimeout: Math.max(1, Math.floor(opts.deadlineMs)),
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      connectTimeout: Math.max(1000, opts.deadlineMs),
      // Capped exponential backoff with jitter; never gives up.
      retryStrategy: (times: number) => Math.round(Math.min(capMs, 50 * 2 ** Math.min(times, 16)) * (0.75 + Math.random() * 0.25)),
      reconnectOnError: () => false,
      lazyConnect: false,
    });
    redis.defineCommand('wicketRlGcra', { numberOfKeys: 1, lua: GCRA });
    redis.defineCommand('wicketRlFixed', { numberOfKeys: 1, lua: FIXED });
    redis.defineCommand('wicketRlSliding', { numberOfKeys: 1, lua: SLIDING });
    redis.defineCommand('wicketRlPeek', { numberOfKeys: 1, lua: PEEK, readOnly: true });
    this.#redis = redis as Redis & Scripts;

    redis.on('ready', () => {
      if (!this.#up) this.#log?.info({ redis: this.#where }, this.#everUp ? 'redis reconnected' : 'redis connected');
      this.#up = this.#everUp = true;
      this.#downLogged = false;
      // A fresh connection that answered the ready check: trust it again.
      if (this.#state !== 'closed') this.#close('reconnected');
      this.#failures = 0;
    });
    redis.on('close', () => {
      if (this.#up && !this.#closed) this.#log?.warn({ redis: this.#where }, 'redis connection lost; reconnecting in the background');
      this.#up = false;
    });
    redis.on('error', (err: Error) => {
      // ioredis reports every failed reconnect: log once per outage.
      if (this.#closed || this.#up || this.#downLogged) return;
      this.#downLogged = true;
      this.#log?.warn({ redis: this.#where, err: err.message }, this.#everUp ? 'redis unreachable' : 'redis unreachable at start');
    });
  }

  /** Circuit closed (or due a probe) and connected: a take() would go to Redis now. */
  get available(): boolean {
    if (this.#closed || this.#redis.status !== 'ready') return false;
    if (this.#state === 'closed') return true;
    return !this.#probing && performance.now() >= this.#openUntil;
  }

  get circuit(): CircuitState {
    return this.#state;
  }

  /** Takes `cost` units of `key` under `spec`. Rejects only with a RedisTierError. */
  take(spec: LimitSpec, key: string, cost = 1): Promise<Decision> {
    return this.#take(spec, key, cost, '');
  }

  /** @internal Tests only: the same script on a given clock (ms since the epoch) instead of Redis TIME. */
  takeAt(spec: LimitSpec, key: string, cost: number, nowMs: number): Promise<Decision> {
    return this.#take(spec, key, cost, String(Math.round(nowMs * 1000)));
  }

  /** The current state of a key, without consuming. */
  peek(spec: LimitSpec, key: string): Promise<PeekResult> {
    const k = redisKey(this.#prefix, spec, key);
    return this.#call(
      () => this.#redis.wicketRlPeek(k),
      (r) => toPeek(k, r),
    );
  }

  /** Deletes a key's state; true if there was some. */
  reset(spec: LimitSpec, key: string): Promise<boolean> {
    const k = redisKey(this.#prefix, spec, key);
    return this.#call(
      () => this.#redis.del(k),
      (n) => n === 1,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const redis = this.#redis;
    if (redis.status === 'ready') {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([
        redis.quit().catch(() => undefined),
        new Promise((r) => {
          t = setTimeout(r, Math.max(100, this.#deadlineMs));
        }),
      ]);
      clearTimeout(t);
    }
    redis.disconnect();
  }

  #take(spec: LimitSpec, key: string, cost: number, now: string): Promise<Decision> {
    let p = this.#specs.get(spec);
    if (!p) {
      try {
        p = prepare(spec);
      } catch (e) {
        return Promise.reject(e);
      }
      this.#specs.set(spec, p);
    }
    if (!Number.isSafeInteger(cost) || cost < 0) return Promise.reject(new RangeError(`rate limit ${spec.id}: cost must be an integer >= 0`));
    const k = redisKey(this.#prefix, spec, key);
    const fn = this.#redis[p.cmd];
    const { a1, a2 } = p;
    return this.#call(() => fn.call(this.#redis, k, a1, a2, cost, now), toDecision);
  }

  /** Gate (closed, connected, circuit) -> command -> deadline race -> circuit bookkeeping. */
  #call<T>(send: () => Promise<unknown>, parse: (reply: unknown) => T): Promise<T> {
    if (this.#closed) return Promise.reject(new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', 'redis tier closed'));
    if (this.#redis.status !== 'ready') return Promise.reject(new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', 'redis not connected'));
    let probe = -1;
    if (this.#state !== 'closed') {
      if (this.#probing || performance.now() < this.#openUntil) {
        return Promise.reject(new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', 'redis circuit open'));
      }
      this.#probing = true;
      probe = this.#epoch;
      this.#state = 'half-open';
    }
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        this.#failed(probe, 'timeout');
        reject(new RedisTierError('WICKET_ERR_REDIS_TIMEOUT', `redis did not answer within ${this.#deadlineMs} ms`));
      }, this.#deadlineMs);
      let sent: Promise<unknown>;
      try {
        sent = send();
      } catch (e) {
        sent = Promise.reject(e);
      }
      sent.then(
        (reply) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          let out: T;
          try {
            out = parse(reply);
          } catch (e) {
            this.#failed(probe, 'bad reply');
            reject(new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', 'unexpected reply from redis', { cause: e }));
            return;
          }
          this.#succeeded(probe);
          resolve(out);
        },
        (err: Error) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          const timeout = /timed out/i.test(err?.message ?? '');
          this.#failed(probe, timeout ? 'timeout' : err?.message ?? 'error');
          reject(
            timeout
              ? new RedisTierError('WICKET_ERR_REDIS_TIMEOUT', `redis did not answer within ${this.#deadlineMs} ms`, { cause: err })
              : new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', `redis call failed: ${err?.message ?? String(err)}`, { cause: err }),
          );
        },
      );
    });
  }

  /** `probe`: the epoch the probe was let through in, or -1 for an ordinary call. */
  #succeeded(probe: number): void {
    if (probe >= 0) {
      if (probe === this.#epoch) this.#close('probe succeeded');
      return;
    }
    if (this.#state === 'closed') this.#failures = 0;
  }

  #failed(probe: number, why: string): void {
    if (probe >= 0) {
      if (probe === this.#epoch) {
        this.#probing = false;
        this.#open(why, true);
      }
      return;
    }
    if (this.#state !== 'closed') return;
    if (++this.#failures >= this.#threshold) this.#open(why, false);
  }

  #open(why: string, reopen: boolean): void {
    this.#state = 'open';
    this.#openUntil = performance.now() + this.#openMs;
    if (!reopen) this.#log?.warn({ redis: this.#where, failures: this.#failures, reason: why, openMs: this.#openMs }, 'redis circuit opened: rate limits use their failure policy');
  }

  #close(why: string): void {
    const was = this.#state;
    if (was !== 'closed') this.#epoch++;
    this.#state = 'closed';
    this.#failures = 0;
    this.#probing = false;
    if (was !== 'closed') this.#log?.info({ redis: this.#where, reason: why }, 'redis circuit closed');
  }
}
