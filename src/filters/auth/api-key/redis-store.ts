// The Redis key store: records in Redis hashes, each change one Lua script
// that also bumps a version and publishes the change (redis-scripts.ts).
// Every gateway's supervisor subscribes and applies the changes in version
// order to its State; a missed number (a reconnect, a lost message) or a
// version ahead of ours (checked every few seconds) reloads everything.
// While Redis is away the workers keep the last table they had; admin
// changes answer 503.
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { redactUrl } from '../../../features/pubsub/broker.js';
import { State, type Change, type ConsumerRecord, type Intent, type KeyRecord, type Refusal } from './records.js';
import { ADD_KEY, CREATE_CONSUMER, DELETE_CONSUMER, DELETE_KEY, MARK_USED, REFUSALS, ROTATE_KEY } from './redis-scripts.js';
import { asConsumer, asKey } from './stored.js';
import { StoreUnavailableError, type KeyStore, type StoreEvents } from './store.js';

/** How often the version is compared with ours (catches a change whose message was lost with nothing after it). */
const VERSION_CHECK_MS = 5000;
/** Last-used times are written in batches this often. */
const USED_FLUSH_MS = 5000;
/** A store call that takes longer fails (the admin API answers 503). */
const COMMAND_TIMEOUT_MS = 2000;

export interface RedisStoreSettings {
  readonly url: string;
  readonly keyPrefix: string;
}

export class RedisStore implements KeyStore {
  readonly state = new State();
  readonly settings: RedisStoreSettings;
  readonly #events: StoreEvents;
  readonly #log: Logger;
  readonly #cmd: Redis;
  readonly #sub: Redis;
  readonly #keys: [string, string, string, string];
  readonly #channel: string;
  /** The last change applied (0: none loaded yet). */
  #version = -1;
  #loading: Promise<void> | null = null;
  /** Messages that came while loading: applied after it, in order. */
  #early: { v: number; c: unknown }[] = [];
  #usedBatch = new Map<string, number>();
  readonly #timers: NodeJS.Timeout[];
  #closed = false;
  #lastError = 0;

  constructor(settings: RedisStoreSettings, events: StoreEvents, log: Logger) {
    this.settings = settings;
    this.#events = events;
    this.#log = log;
    const p = settings.keyPrefix;
    this.#keys = [`${p}consumers`, `${p}keys`, `${p}used`, `${p}version`];
    this.#channel = `${p}changes`;
    const client = (role: string, opts: object) => {
      const r = new Redis(settings.url, {
        retryStrategy: (n) => Math.min(50 * 2 ** Math.min(n, 6), 2000),
        connectionName: `wicket-apikey-${role}`,
        ...opts,
      });
      r.on('error', (err: Error) => this.#logError(role, err));
      return r;
    };
    // Admin changes fail fast while Redis is away; the subscription waits however long it takes.
    this.#cmd = client('cmd', { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: COMMAND_TIMEOUT_MS });
    this.#sub = client('sub', { maxRetriesPerRequest: null });
    this.#sub.on('message', (_channel: string, text: string) => this.#message(text));
    // Each (re)connection: subscribe (ioredis resubscribes by itself after the first), then load everything.
    this.#sub.on('ready', () => void this.#reload());
    this.#sub.subscribe(this.#channel).catch((err: Error) => this.#logError('sub', err));
    this.#cmd.on('ready', () => void this.#reload());
    this.#timers = [
      setInterval(() => void this.#checkVersion(), VERSION_CHECK_MS),
      setInterval(() => void this.#flushUsed(), USED_FLUSH_MS),
    ];
    for (const t of this.#timers) t.unref();
  }

  get ready(): boolean {
    return this.#version >= 0;
  }

  #logError(role: string, err: Error): void {
    const now = Date.now();
    if (now - this.#lastError < 10_000) return;
    this.#lastError = now;
    this.#log.warn({ url: redactUrl(this.settings.url), role, err: err.message }, 'API-key store: redis error');
  }

  /** Loads every record (once at a time; a second call while loading shares it). */
  #reload(): Promise<void> {
    if (this.#closed || this.#cmd.status !== 'ready' || this.#sub.status !== 'ready') return Promise.resolve();
    this.#loading ??= (async () => {
      try {
        const r = await this.#cmd.multi().get(this.#keys[3]).hgetall(this.#keys[0]).hgetall(this.#keys[1]).exec();
        if (r === null || r.some(([err]) => err !== null)) throw new Error('the load transaction failed');
        const [[, v], [, consumers], [, keys]] = r as [unknown, unknown][];
        const parse = <T>(rows: Record<string, string>, as: (v: unknown) => T | null, what: string): T[] => {
          const out: T[] = [];
          for (const [field, text] of Object.entries(rows)) {
            let rec: T | null = null;
            try {
              rec = as(JSON.parse(text));
            } catch {
              // reported below
            }
            if (rec === null) this.#log.warn({ [what]: field }, `API-key store: a malformed ${what} record in redis is ignored`);
            else out.push(rec);
          }
          return out;
        };
        this.state.replace(parse(consumers as Record<string, string>, asConsumer, 'consumer'), parse(keys as Record<string, string>, asKey, 'key'));
        this.#version = Number(v ?? 0);
        this.#events.reloaded();
      } catch (err) {
        this.#logError('cmd', err as Error);
      } finally {
        this.#loading = null;
      }
      const early = this.#early;
      this.#early = [];
      for (const m of early) this.#apply(m.v, m.c);
    })();
    return this.#loading;
  }

  #message(text: string): void {
    let m: { v?: unknown; c?: unknown };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return;
    }
    if (typeof m.v !== 'number') return;
    if (this.#loading !== null || this.#version < 0) this.#early.push({ v: m.v, c: m.c });
    else this.#apply(m.v, m.c);
  }

  /** Change number `v`: applied when it is the next one; a gap reloads. */
  #apply(v: number, raw: unknown): void {
    if (v <= this.#version) return;
    if (v !== this.#version + 1) {
      void this.#reload();
      return;
    }
    this.#version = v;
    const c = asChange(raw);
    if (c === null) {
      this.#log.warn({ version: v }, 'API-key store: a malformed change from redis; reloading');
      void this.#reload();
      return;
    }
    this.state.apply(c);
    this.#events.changed(c);
  }

  async #checkVersion(): Promise<void> {
    if (this.#version < 0 || this.#loading !== null) return void this.#reload();
    try {
      const v = Number((await this.#cmd.get(this.#keys[3])) ?? 0);
      if (v > this.#version) await this.#reload();
    } catch {
      // logged by the client's error handler; tried again next time
    }
  }

  async commit(i: Intent): Promise<Change | Refusal> {
    let answer: unknown;
    let change: Change;
    try {
      const run = (lua: string, ...args: (string | number)[]) => this.#cmd.eval(lua, 4, ...this.#keys, this.#channel, ...args);
      switch (i.op) {
        case 'consumer':
          change = i;
          answer = await run(CREATE_CONSUMER, i.consumer.name, JSON.stringify(i.consumer), JSON.stringify(change));
          break;
        case 'consumer-del':
          change = i;
          answer = await run(DELETE_CONSUMER, i.name, JSON.stringify(change));
          break;
        case 'key':
          change = i;
          answer = await run(ADD_KEY, i.key.consumer, i.key.id, JSON.stringify(i.key), JSON.stringify(change));
          break;
        case 'rotate': {
          answer = await run(ROTATE_KEY, i.key.consumer, i.oldId, i.graceUntil, i.key.id, JSON.stringify(i.key));
          if (!Array.isArray(answer)) break;
          const old = asKey(JSON.parse(String(answer[1])));
          if (old === null) throw new Error('the rotated key came back malformed');
          change = { op: 'rotate', old, key: i.key };
          answer = answer[0];
          break;
        }
        case 'key-del':
          change = { op: 'key-del', id: i.id };
          answer = await run(DELETE_KEY, i.consumer, i.id, JSON.stringify(change));
          break;
      }
    } catch (err) {
      this.#logError('cmd', err as Error);
      throw new StoreUnavailableError('the key store (redis) is unavailable');
    }
    const v = Number(answer);
    if (v < 0) return REFUSALS[v] ?? 'no-key';
    // Ours is next: apply it now rather than wait for our own message (which is then skipped).
    if (this.#loading === null) this.#apply(v, change!);
    return change!;
  }

  used(id: string, at: number): void {
    if (!this.state.keys.has(id)) return; // revoked since (the report is a few seconds old)
    if ((this.#usedBatch.get(id) ?? 0) < at) this.#usedBatch.set(id, at);
    if ((this.state.used.get(id) ?? 0) < at) this.state.used.set(id, at);
  }

  async #flushUsed(): Promise<void> {
    if (this.#usedBatch.size === 0 || this.#cmd.status !== 'ready') return;
    const batch = this.#usedBatch;
    this.#usedBatch = new Map();
    const args: (string | number)[] = [];
    for (const [id, at] of batch) args.push(id, at);
    try {
      await this.#cmd.eval(MARK_USED, 2, this.#keys[2], this.#keys[1], ...args);
    } catch (err) {
      this.#logError('cmd', err as Error); // approximate by design: this batch is dropped
    }
  }

  async lastUsed(ids: readonly string[]): Promise<(number | null)[]> {
    const local = ids.map((id) => this.state.used.get(id) ?? null);
    if (ids.length === 0) return local;
    try {
      const remote = await this.#cmd.hmget(this.#keys[2], ...ids);
      return ids.map((_, n) => {
        const r = remote[n] == null ? null : Number(remote[n]);
        const l = local[n]!;
        return r === null ? l : l === null ? r : Math.max(r, l);
      });
    } catch {
      return local;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#flushUsed();
    // Not QUIT: with Redis away it would wait for a reconnection that may never come.
    this.#cmd.disconnect();
    this.#sub.disconnect();
  }
}

/** A change as published by a script (records checked: another gateway's writes). */
function asChange(raw: unknown): Change | null {
  const c = raw as { op?: unknown; consumer?: unknown; name?: unknown; key?: unknown; old?: unknown; id?: unknown } | null;
  if (c === null || typeof c !== 'object') return null;
  const consumer = (): ConsumerRecord | null => asConsumer(c.consumer);
  const key = (v: unknown): KeyRecord | null => asKey(v);
  switch (c.op) {
    case 'consumer': {
      const r = consumer();
      return r === null ? null : { op: 'consumer', consumer: r };
    }
    case 'consumer-del':
      return typeof c.name === 'string' ? { op: 'consumer-del', name: c.name } : null;
    case 'key': {
      const k = key(c.key);
      return k === null ? null : { op: 'key', key: k };
    }
    case 'rotate': {
      const old = key(c.old);
      const k = key(c.key);
      return old === null || k === null ? null : { op: 'rotate', old, key: k };
    }
    case 'key-del':
      return typeof c.id === 'string' ? { op: 'key-del', id: c.id } : null;
    default:
      return null;
  }
}
