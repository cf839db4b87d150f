// The global rate-limit tier: atomic Lua on Redis (ioredis `defineCommand`:
// EVALSHA, EVAL when the script is not loaded on the connection), so every
// gateway that shares the Redis shares the limit exactly. The clock is
// Redis's own (`TIME` inside the script): gateways with skewed clocks still
// agree on windows and arrival times.
//
// Batching: the takes issued in one event-loop turn are not sent one by one.
// They are queued, and at the end of the turn (setImmediate) each group goes
// to Redis as ONE script call that applies its takes in the order they were
// issued, atomically, on one reading of the clock, and returns a flat array
// of decisions. A batch is a valid serial order of takes that were concurrent
// anyway, so the limits stay exact: the decisions are the ones the same takes
// would get one after another at that instant. Grouping (option `batch`):
// 'hash-tag' (default) puts in one call only takes whose keys have the same
// Redis Cluster hash tag, so a call never spans two slots (Cluster- and
// sharding-proxy-safe; with the default key layout that is "the same key",
// which is what a hot key needs); 'all' sends the whole turn as one call
// whatever the keys, for a single unsharded Redis only. At most `maxBatch`
// takes go in one call (bounded time inside Redis).
//
// A take never waits past `deadlineMs`: one timer per turn, armed when the
// turn's first take is queued, rejects every take of the turn still unanswered
// (a reply that comes later is ignored); the client fails at once when not
// connected (no offline queue, no retries of in-flight commands on reconnect,
// so a decision already given up is never replayed), and a circuit opens
// after `failureThreshold` failed takes in a row (a failed script call counts
// once per take in it), so a dead or stalled Redis costs nothing per request
// until one probe is let through after `openMs` (or the connection is
// re-established). Reconnects run in the background with capped exponential
// backoff. The gate (closed, connected, circuit) is checked when take() is
// called: a refused take is refused at once, it never waits for the turn.
//
// Keys are `${keyPrefix}:{${spec.id}:${key}}`: the whole variable part is the
// hash tag. A user key that is long (> 200 bytes), contains a brace, or starts
// with '#' is replaced by '#' + its SHA-1 (so a client can't pick a key that
// collides with a hashed one).
//
// State in Redis (all times in microseconds since the Unix epoch, from TIME):
// - gcra: a string, the theoretical arrival time (TAT);
// - fixed-window: a hash {w: window id, c: count};
// - sliding-window: a hash {w: window id, c: current count, p: previous count};
// - sliding-log (exact): a list of the admitted units' times, oldest first,
//   one entry per unit; entries older than the window are trimmed from the
//   head on every take, so the list never holds more than `limit` live units.
// Internally the script works in whole microseconds; the per-unit emission
// interval T = windowMs/limit is rounded up to a whole microsecond, so the
// GCRA arithmetic is exact integer arithmetic (no drift over a burst).
// Decisions are reported in whole milliseconds (remaining floored, times
// rounded up).
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';

export type Algorithm = 'gcra' | 'fixed-window' | 'sliding-window' | 'sliding-log';

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
  /**
   * Which takes of one event-loop turn share a script call:
   * - 'hash-tag' (default): takes whose keys have the same Redis Cluster hash
   *   tag (default key layout: the same key). A call never spans two slots, so
   *   this is safe on Redis Cluster and behind sharding proxies.
   * - 'all': every take of the turn, whatever its key. For a single unsharded
   *   Redis (or one replicated primary) only: a Cluster or a sharding proxy
   *   refuses a script whose keys are in different slots (CROSSSLOT), and
   *   every take of the batch would then fail over to its failure policy.
   */
  batch?: 'hash-tag' | 'all';
  /** Most takes in one script call (default 128, at most 1000; 1 = one call per take). */
  maxBatch?: number;
  /**
   * When the queued takes are sent: 'immediate' (default: setImmediate, after
   * the I/O callbacks of the current loop iteration, so takes of requests read
   * in the same iteration share a call) or 'microtask' (queueMicrotask: right
   * after the current callback; smaller batches, no added loop iteration).
   */
  flush?: 'immediate' | 'microtask';
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

// One script applies a batch of takes in order. KEYS: the batch's distinct
// keys. ARGV[1]: `now` in µs, or '' for Redis's clock (a value only for tests:
// see takeAt). Then runs of identical consecutive takes, 6 values each: how
// many, the index of their key in KEYS, the algorithm ('g' gcra, 'f' fixed
// window, 's' sliding window, 'l' sliding log), a1 and a2 (T and B for gcra,
// W and L for the others: see prepare()), cost. Returns 4 integers per take:
// allowed (0/1), remaining, reset ms, retry-after ms. A negative cost is a
// refund (units a take admitted, given back because a later limit of the
// same request said no); its four integers are 1, 0, 0, 0.
//
// The arithmetic of each algorithm is the one-take script's, statement for
// statement. What differs is I/O: a key's state is read once per batch
// (`load`: a key of another type is deleted, as a one-take script did), each
// take updates it in a Lua table exactly as writing it to Redis and reading it
// back would (`norm` is the '%.0f' round trip), and once the batch is done the
// state of each key is written once (`store`: the value and expiry the last
// allowed take would have written). Redis ends up exactly as after the same
// takes one by one at that instant. A key whose algorithm changes inside a
// batch (a limit's algorithm changed under the same id) is stored and loaded
// again, so even that follows the one-by-one order. The sliding log is the
// exception to load/store: its list is read and written in place (a batch
// may hold a whole window of entries), which is the one-by-one order too.
// `ms()` rounds µs up to ms, `fdiv()` is an exact floor of a quotient of
// integers.
const BATCH = `
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
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
local function fmt(x)
  return string.format('%.0f', x)
end
-- The number a field holds after x is written with fmt() and read with tonumber().
local function norm(x)
  if x % 1 == 0 then return x end
  return tonumber(fmt(x))
end

-- State per key: st.alg; gcra: st.tat (stored TAT or nil); windows: st.w
-- (window id or nil), st.c, st.p (numbers, 0 when absent); st.dirty and
-- st.ttl (ms) once a take was allowed.
local function load(key, alg)
  local st = {alg = alg, dirty = false}
  if alg == 'l' then
    st.key = key
    local t = redis.call('TYPE', key).ok
    if t ~= 'list' and t ~= 'none' then redis.call('DEL', key) end
  elseif alg == 'g' then
    local stored = redis.pcall('GET', key)
    if type(stored) == 'table' and stored.err then
      redis.call('DEL', key)
    elseif stored then
      st.tat = tonumber(stored)
    end
  else
    local h
    if alg == 'f' then h = redis.pcall('HMGET', key, 'w', 'c') else h = redis.pcall('HMGET', key, 'w', 'c', 'p') end
    if h.err then
      redis.call('DEL', key)
      st.c, st.p = 0, 0
    else
      st.w = tonumber(h[1])
      st.c = tonumber(h[2]) or 0
      st.p = tonumber(h[3]) or 0
    end
  end
  return st
end

local function store(key, st)
  if not st.dirty then return end
  if st.alg == 'l' then
    redis.call('PEXPIRE', key, st.ttl)
  elseif st.alg == 'g' then
    redis.call('SET', key, fmt(st.tat), 'PX', st.ttl)
  elseif st.alg == 'f' then
    redis.call('HSET', key, 'w', fmt(st.w), 'c', fmt(st.c))
    redis.call('PEXPIRE', key, st.ttl)
  else
    redis.call('HSET', key, 'w', fmt(st.w), 'c', fmt(st.c), 'p', fmt(st.p))
    redis.call('PEXPIRE', key, st.ttl)
  end
end

local function gcra(st, T, B, cost)
  if cost < 0 then
    if st.tat then
      st.tat = math.max(st.tat + cost * T, now)
      st.ttl = ms(st.tat - now) + 1000
      st.dirty = true
    end
    return 1, 0, 0, 0
  end
  local tat = now
  local s = st.tat
  if s and s > now then tat = s end
  local cap = B * T
  local newTat = tat + cost * T
  if newTat - now > cap then
    local rem = fdiv(cap - (tat - now), T)
    if rem < 0 then rem = 0 end
    return 0, rem, ms(tat - now), ms(newTat - now - cap)
  end
  st.tat = norm(newTat)
  st.ttl = ms(newTat - now) + 1000
  st.dirty = true
  return 1, fdiv(cap - (newTat - now), T), ms(newTat - now), 0
end

local function fixed(st, W, L, cost)
  local id = math.floor(now / W)
  local left = (id + 1) * W - now
  if cost < 0 then
    if st.w == id then
      st.c = math.max(0, st.c + cost)
      st.ttl = math.max(1, ms(left))
      st.dirty = true
    end
    return 1, 0, 0, 0
  end
  local cur = 0
  if st.w == id then cur = st.c end
  if cur + cost <= L then
    st.w = norm(id)
    st.c = norm(cur + cost)
    st.ttl = math.max(1, ms(left))
    st.dirty = true
    return 1, L - cur - cost, ms(left), 0
  end
  local rem = L - cur
  if rem < 0 then rem = 0 end
  return 0, rem, ms(left), ms(left)
end

local function sliding(st, W, L, cost)
  local id = math.floor(now / W)
  local elapsed = now - id * W
  if cost < 0 then
    if st.w == id or st.w == id - 1 then
      st.c = math.max(0, st.c + cost)
      st.ttl = ms(2 * W - elapsed)
      st.dirty = true
    end
    return 1, 0, 0, 0
  end
  local cur, prev = 0, 0
  local w = st.w
  if w == id then
    cur = st.c
    prev = st.p
  elseif w == id - 1 then
    prev = st.c
  end
  -- estimate = prev * (1 - elapsed/W) + cur, compared exactly in integers scaled by W.
  local used = prev * (W - elapsed) + cur * W
  local reset = ms(W - elapsed)
  if used + cost * W <= L * W then
    st.w = norm(id)
    st.c = norm(cur + cost)
    st.p = norm(prev)
    st.ttl = ms(2 * W - elapsed)
    st.dirty = true
    local rem = fdiv(L * W - used - cost * W, W)
    if rem < 0 then rem = 0 end
    return 1, rem, reset, 0
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
  return 0, rem, reset, retry
end

-- One entry per unit, each the take's time; trimmed from the head (oldest).
local function slog(st, W, L, cost)
  local key = st.key
  local cutoff = now - W
  while true do
    local head = redis.call('LINDEX', key, 0)
    if not head or tonumber(head) > cutoff then break end
    redis.call('LPOP', key)
  end
  local used = redis.call('LLEN', key)
  if cost < 0 then
    -- The newest entries go: the refunded take's, unless another take came
    -- after it, whose entries are at most a refund's delay younger.
    for _ = 1, math.min(-cost, used) do redis.call('RPOP', key) end
    if used > 0 then
      st.ttl = ms(W) + 1
      st.dirty = true
    end
    return 1, 0, 0, 0
  end
  if used + cost <= L then
    local t = fmt(now)
    local i = 0
    while i < cost do
      local n = math.min(cost - i, 1000)
      local a = {}
      for j = 1, n do a[j] = t end
      redis.call('RPUSH', key, unpack(a))
      i = i + n
    end
    if cost > 0 or used > 0 then
      st.ttl = ms(W) + 1
      st.dirty = true
    end
    return 1, L - used - cost, ms(W), 0
  end
  local rem = L - used
  if rem < 0 then rem = 0 end
  -- Full again when the newest entry leaves; admitted when enough of the oldest have.
  local reset = 0
  local newest = redis.call('LINDEX', key, -1)
  if newest then reset = ms(tonumber(newest) + W - now) end
  local retry = ms(W)
  if cost <= L then
    local e = redis.call('LINDEX', key, used + cost - L - 1)
    if e then retry = ms(tonumber(e) + W - now) end
  end
  if retry < 1 then retry = 1 end
  return 0, rem, reset, retry
end

local states = {}
local out = {}
local n = 0
for i = 2, #ARGV, 6 do
  local key = KEYS[tonumber(ARGV[i + 1])]
  local alg = ARGV[i + 2]
  local st = states[key]
  if st and st.alg ~= alg then
    store(key, st)
    st = nil
  end
  if not st then
    st = load(key, alg)
    states[key] = st
  end
  local f = fixed
  if alg == 'g' then f = gcra elseif alg == 's' then f = sliding elseif alg == 'l' then f = slog end
  local a1, a2, cost = tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  for _ = 1, tonumber(ARGV[i]) do
    local a, b, c, d = f(st, a1, a2, cost)
    out[n + 1] = a
    out[n + 2] = b
    out[n + 3] = c
    out[n + 4] = d
    n = n + 4
  end
end
for i = 1, #KEYS do
  local st = states[KEYS[i]]
  if st then store(KEYS[i], st) end
end
return out
`;

const PEEK = `
local key = KEYS[1]
local t = redis.call('TYPE', key).ok
local raw = false
if t == 'string' then
  raw = {redis.call('GET', key)}
elseif t == 'hash' then
  raw = redis.call('HGETALL', key)
elseif t == 'list' then
  -- A sliding log: how many units, the oldest and newest times (not the whole list).
  raw = {'count', tostring(redis.call('LLEN', key)), 'oldest', redis.call('LINDEX', key, 0), 'newest', redis.call('LINDEX', key, -1)}
end
return {raw, redis.call('PTTL', key)}
`;

interface Scripts {
  /** numkeys, KEYS, ARGV (ioredis flattens the arrays one level). */
  wicketRlBatch(numKeys: number, keys: string[], args: (string | number)[]): Promise<unknown>;
  wicketRlPeek(key: string): Promise<unknown>;
}

const ALG: Record<Algorithm, string> = {
  gcra: 'g',
  'fixed-window': 'f',
  'sliding-window': 's',
  'sliding-log': 'l',
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
  /** The algorithm's letter in the batch script. */
  readonly alg: string;
  /** T and B (gcra) or W and L (windows). */
  readonly a1: number;
  readonly a2: number;
}

function prepare(spec: LimitSpec): Prepared {
  const { id, algorithm, limit, windowMs } = spec;
  if (typeof id !== 'string' || id.includes('{') || id.includes('}')) throw new RangeError(`rate limit id must be a string without braces: ${String(id)}`);
  if (!(limit > 0) || !Number.isFinite(limit)) throw new RangeError(`rate limit ${id}: limit must be > 0`);
  if (!(windowMs > 0) || !Number.isFinite(windowMs)) throw new RangeError(`rate limit ${id}: windowMs must be > 0`);
  const alg = Object.hasOwn(ALG, algorithm) ? ALG[algorithm] : undefined;
  if (!alg) throw new RangeError(`rate limit ${id}: unknown algorithm ${String(algorithm)}`);
  if (algorithm === 'gcra') {
    const burst = spec.burst ?? limit;
    if (!(burst > 0) || !Number.isFinite(burst)) throw new RangeError(`rate limit ${id}: burst must be > 0`);
    // Whole µs per unit, rounded up (the tolerance absorbs float noise in windowMs*1000/limit).
    const t = Math.max(1, Math.ceil((windowMs * 1000) / limit - 1e-9));
    return { alg, a1: t, a2: burst };
  }
  return { alg, a1: Math.max(1, Math.round(windowMs * 1000)), a2: limit };
}

/**
 * The Redis Cluster hash tag of a key (what its slot is computed from): the
 * text between the first '{' and the first '}' after it when that is not
 * empty, else the whole key.
 */
export function hashTag(key: string): string {
  const s = key.indexOf('{');
  if (s < 0) return key;
  const e = key.indexOf('}', s + 1);
  return e > s + 1 ? key.slice(s + 1, e) : key;
}

// --- batching ------------------------------------------------------------------------

/** The takes of one event-loop turn: one deadline timer for all of them. */
interface Turn {
  readonly batches: Batch[];
  /** Open batch per group (hash tag and test clock), while the turn is being filled. */
  readonly groups: Map<string, Batch>;
  timer: NodeJS.Timeout | undefined;
  /** Batches not settled yet; the timer is cleared when this reaches 0. */
  pending: number;
  flushed: boolean;
}

/** The takes of one script call. */
interface Batch {
  readonly turn: Turn;
  /** The distinct keys (KEYS). */
  readonly keys: string[];
  /** key -> its 1-based index in `keys`, built once a second key joins. */
  index: Map<string, number> | null;
  /** ARGV: the test clock, then 6 values per run of identical takes (count first). */
  readonly args: (string | number)[];
  /** Where the last run's count is in `args` (0: no run yet). */
  run: number;
  readonly resolve: ((d: Decision) => void)[];
  readonly reject: ((e: unknown) => void)[];
  /** The circuit epoch this probe was let through in, or -1 (an ordinary batch). */
  readonly probe: number;
  done: boolean;
}

function newBatch(turn: Turn, now: string, probe: number): Batch {
  const b: Batch = { turn, keys: [], index: null, args: [now], run: 0, resolve: [], reject: [], probe, done: false };
  turn.batches.push(b);
  turn.pending++;
  return b;
}

/** The 1-based index of `key` in the batch's KEYS, adding it if new. */
function keyIndex(b: Batch, key: string): number {
  const keys = b.keys;
  const n = keys.length;
  if (n > 0 && keys[n - 1] === key) return n;
  if (n === 0) {
    keys.push(key);
    return 1;
  }
  let index = b.index;
  if (index === null) {
    index = b.index = new Map();
    for (let i = 0; i < n; i++) index.set(keys[i]!, i + 1);
  }
  let i = index.get(key);
  if (i === undefined) {
    i = keys.push(key);
    index.set(key, i);
  }
  return i;
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
  /** Batch everything of a turn together (option batch: 'all'). */
  readonly #all: boolean;
  readonly #maxBatch: number;
  readonly #microtask: boolean;
  /** The prefix has a '{': a key's hash tag must be computed (else the key itself stands for its tag). */
  readonly #bracedPrefix: boolean;
  /** The turn being filled (its takes are not sent yet). */
  #turn: Turn | null = null;

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
    if (opts.batch !== undefined && opts.batch !== 'hash-tag' && opts.batch !== 'all') throw new RangeError(`redis batch must be 'hash-tag' or 'all'`);
    if (opts.flush !== undefined && opts.flush !== 'immediate' && opts.flush !== 'microtask') throw new RangeError(`redis flush must be 'immediate' or 'microtask'`);
    this.#deadlineMs = opts.deadlineMs;
    this.#prefix = opts.keyPrefix;
    this.#threshold = Math.max(1, opts.failureThreshold ?? 3);
    this.#openMs = Math.max(1, opts.openMs ?? 1000);
    this.#all = opts.batch === 'all';
    this.#maxBatch = Math.min(1000, Math.max(1, Math.floor(opts.maxBatch ?? 128) || 1));
    this.#microtask = opts.flush === 'microtask';
    this.#bracedPrefix = opts.keyPrefix.includes('{');
    this.#log = opts.log;
    this.#where = redactUrl(opts.url);
    const capMs = Math.max(50, opts.reconnectMaxMs ?? 2000);
    const redis = new Redis(opts.url, {
      // Takes are batched per turn here, and a turn's calls written in one
      // go (#flush): ioredis's own auto-pipelining would only add a Pipeline
      // object and one more loop iteration per call. No commandTimeout
      // either: the deadline is our own timer, one per turn, not one per
      // command.
      enableAutoPipelining: false,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      autoResendUnfulfilledCommands: false,
      connectTimeout: Math.max(1000, opts.deadlineMs),
      // Capped exponential backoff with jitter; never gives up.
      retryStrategy: (times: number) => Math.round(Math.min(capMs, 50 * 2 ** Math.min(times, 16)) * (0.75 + Math.random() * 0.25)),
      reconnectOnError: () => false,
      lazyConnect: false,
    });
    redis.defineCommand('wicketRlBatch', { lua: BATCH });
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
    if (!Number.isSafeInteger(cost) || cost < 0) return Promise.reject(new RangeError(`rate limit ${spec.id}: cost must be an integer >= 0`));
    return this.#take(spec, key, cost, '');
  }

  /**
   * Gives back `cost` units an earlier take admitted (a later limit of the
   * same request refused it). Queued behind the takes already issued, like a
   * take; best effort: a failed refund leaves the units taken.
   */
  refund(spec: LimitSpec, key: string, cost = 1): Promise<void> {
    if (!Number.isSafeInteger(cost) || cost < 1) return Promise.reject(new RangeError(`rate limit ${spec.id}: refund must be an integer >= 1`));
    return this.#take(spec, key, -cost, '').then(() => undefined);
  }

  /** @internal Tests only: the same script on a given clock (ms since the epoch) instead of Redis TIME; a negative cost refunds. */
  takeAt(spec: LimitSpec, key: string, cost: number, nowMs: number): Promise<Decision> {
    if (!Number.isSafeInteger(cost)) return Promise.reject(new RangeError(`rate limit ${spec.id}: cost must be an integer`));
    return this.#take(spec, key, cost, String(Math.round(nowMs * 1000)));
  }

  /** The current state of a key, without consuming. */
  peek(spec: LimitSpec, key: string): Promise<PeekResult> {
    const k = redisKey(this.#prefix, spec, key);
    // Takes issued before this call go first (program order on the connection).
    if (this.#turn !== null) this.#flush(this.#turn);
    return this.#call(
      () => this.#redis.wicketRlPeek(k),
      (r) => toPeek(k, r),
    );
  }

  /** Deletes a key's state; true if there was some. */
  reset(spec: LimitSpec, key: string): Promise<boolean> {
    const k = redisKey(this.#prefix, spec, key);
    if (this.#turn !== null) this.#flush(this.#turn);
    return this.#call(
      () => this.#redis.del(k),
      (n) => n === 1,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Takes still queued are refused (UNAVAILABLE) now rather than at the end of the turn.
    if (this.#turn !== null) this.#flush(this.#turn);
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
    // The gate, at call time: a refused take never waits for the turn.
    const probe = this.#gate();
    if (typeof probe !== 'number') return Promise.reject(probe);
    const k = redisKey(this.#prefix, spec, key);
    let turn = this.#turn;
    if (turn === null) turn = this.#startTurn();
    let b: Batch | undefined;
    if (probe >= 0) {
      // A probe travels alone: its verdict is about Redis, not about a batch.
      b = newBatch(turn, now, probe);
    } else {
      const tag = this.#all ? '' : this.#bracedPrefix ? hashTag(k) : k;
      const group = now === '' ? tag : `${tag}\u0000${now}`;
      b = turn.groups.get(group);
      if (b === undefined || b.resolve.length >= this.#maxBatch) {
        b = newBatch(turn, now, -1);
        turn.groups.set(group, b);
      }
    }
    // The same take as the previous one of the batch (the usual case: one hot
    // key under one limit): one more of the run, no new arguments.
    const ki = keyIndex(b, k);
    const args = b.args;
    const r = b.run;
    if (r > 0 && args[r + 1] === ki && args[r + 2] === p.alg && args[r + 3] === p.a1 && args[r + 4] === p.a2 && args[r + 5] === cost) {
      args[r] = (args[r] as number) + 1;
    } else {
      b.run = args.length;
      args.push(1, ki, p.alg, p.a1, p.a2, cost);
    }
    const batch = b;
    return new Promise<Decision>((resolve, reject) => {
      batch.resolve.push(resolve);
      batch.reject.push(reject);
    });
  }

  #startTurn(): Turn {
    const turn: Turn = { batches: [], groups: new Map(), timer: undefined, pending: 0, flushed: false };
    this.#turn = turn;
    // Armed at the first take of the turn: no take of it waits longer than deadlineMs.
    turn.timer = setTimeout(() => this.#expire(turn), this.#deadlineMs);
    if (this.#microtask) queueMicrotask(() => this.#flush(turn));
    else setImmediate(() => this.#flush(turn));
    return turn;
  }

  /** Sends the turn's batches: one script call each, written to the socket in one go. */
  #flush(turn: Turn): void {
    if (turn.flushed) return;
    turn.flushed = true;
    if (this.#turn === turn) this.#turn = null;
    const batches = turn.batches;
    const stream = batches.length > 1 && this.#redis.status === 'ready' ? this.#redis.stream : null;
    stream?.cork();
    try {
      for (let i = 0; i < batches.length; i++) {
        const b = batches[i]!;
        if (!b.done) this.#send(b);
      }
    } finally {
      stream?.uncork();
    }
  }

  #send(b: Batch): void {
    // The gate passed when the takes were queued; what can have changed since
    // (the same loop iteration) is the connection, or the tier closed.
    const closed = this.#closed;
    if (closed || this.#redis.status !== 'ready') {
      // Not a verdict on Redis: no circuit bookkeeping; a probe just was not
      // sent (the circuit stays open, due a probe as before).
      if (b.probe >= 0 && b.probe === this.#epoch) {
        this.#probing = false;
        this.#state = 'open';
      }
      this.#settle(b);
      this.#rejectAll(b, new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', closed ? 'redis tier closed' : 'redis not connected'));
      return;
    }
    let sent: Promise<unknown>;
    try {
      sent = this.#redis.wicketRlBatch(b.keys.length, b.keys, b.args);
    } catch (e) {
      sent = Promise.reject(e);
    }
    sent.then(
      (reply) => this.#replied(b, reply),
      (err: unknown) => this.#errored(b, err),
    );
  }

  #replied(b: Batch, reply: unknown): void {
    if (b.done) return;
    this.#settle(b);
    const n = b.resolve.length;
    if (!Array.isArray(reply) || reply.length !== 4 * n) {
      this.#failed(b.probe, 'bad reply', n);
      const cause = new Error(`unexpected script reply: ${JSON.stringify(reply)?.slice(0, 200)}`);
      this.#rejectAll(b, new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', 'unexpected reply from redis', { cause }));
      return;
    }
    this.#succeeded(b.probe);
    const r = reply as number[];
    const resolve = b.resolve;
    for (let i = 0, j = 0; i < n; i++, j += 4) {
      resolve[i]!({ allowed: r[j] === 1, remaining: r[j + 1]!, resetMs: r[j + 2]!, retryAfterMs: r[j + 3]! });
    }
  }

  #errored(b: Batch, err: unknown): void {
    if (b.done) return;
    this.#settle(b);
    const msg = (err as Error | undefined)?.message ?? String(err);
    const timeout = /timed out/i.test(msg);
    this.#failed(b.probe, timeout ? 'timeout' : msg, b.resolve.length);
    this.#rejectAll(
      b,
      timeout
        ? new RedisTierError('WICKET_ERR_REDIS_TIMEOUT', `redis did not answer within ${this.#deadlineMs} ms`, { cause: err })
        : new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', `redis call failed: ${msg}`, { cause: err }),
    );
  }

  /** The turn's deadline: every batch of it still unanswered (sent or not) times out. */
  #expire(turn: Turn): void {
    turn.timer = undefined;
    // Not sent yet (the loop was blocked past the deadline before the turn's
    // flush ran): nothing of it is sent any more, and later takes start a new turn.
    turn.flushed = true;
    if (this.#turn === turn) this.#turn = null;
    const batches = turn.batches;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      if (b.done) continue;
      this.#settle(b);
      this.#failed(b.probe, 'timeout', b.resolve.length);
      this.#rejectAll(b, new RedisTierError('WICKET_ERR_REDIS_TIMEOUT', `redis did not answer within ${this.#deadlineMs} ms`));
    }
  }

  /** Marks a batch answered (later news of it is ignored); the last one of a turn clears its timer. */
  #settle(b: Batch): void {
    b.done = true;
    const turn = b.turn;
    if (--turn.pending === 0 && turn.timer !== undefined) {
      clearTimeout(turn.timer);
      turn.timer = undefined;
    }
  }

  #rejectAll(b: Batch, err: RedisTierError): void {
    const reject = b.reject;
    for (let i = 0; i < reject.length; i++) reject[i]!(err);
  }

  /**
   * Closed, connected, circuit: the error to refuse with, or the epoch this
   * call probes a half-open circuit for (-1 when the circuit is closed).
   */
  #gate(): number | RedisTierError {
    if (this.#closed) return new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', 'redis tier closed');
    if (this.#redis.status !== 'ready') return new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', 'redis not connected');
    if (this.#state === 'closed') return -1;
    if (this.#probing || performance.now() < this.#openUntil) return new RedisTierError('WICKET_ERR_REDIS_UNAVAILABLE', 'redis circuit open');
    this.#probing = true;
    this.#state = 'half-open';
    return this.#epoch;
  }

  /** Gate (closed, connected, circuit) -> command -> deadline race -> circuit bookkeeping (peek, reset). */
  #call<T>(send: () => Promise<unknown>, parse: (reply: unknown) => T): Promise<T> {
    const probe = this.#gate();
    if (typeof probe !== 'number') return Promise.reject(probe);
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        if (done) return;
        done = true;
        this.#failed(probe, 'timeout', 1);
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
            this.#failed(probe, 'bad reply', 1);
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
          this.#failed(probe, timeout ? 'timeout' : err?.message ?? 'error', 1);
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

  /** `n`: how many takes (requests) the failed call carried; each counts towards the threshold. */
  #failed(probe: number, why: string, n: number): void {
    if (probe >= 0) {
      if (probe === this.#epoch) {
        this.#probing = false;
        this.#open(why, true);
      }
      return;
    }
    if (this.#state !== 'closed') return;
    this.#failures += n;
    if (this.#failures >= this.#threshold) this.#open(why, false);
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
