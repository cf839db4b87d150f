// The API-key store's records and the changes made to them. One State holds
// them (the supervisor's copy: the file store's truth, Redis' mirror); the
// same changes become the messages that keep each worker's table (table.ts)
// in step.

export interface ConsumerRecord {
  readonly name: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
  /** ms since the epoch. */
  readonly createdAt: number;
}

export interface KeyRecord {
  readonly id: string;
  readonly consumer: string;
  /** The key's HMAC (keys.ts), never the key. */
  readonly hash: string;
  /** prefix + id, as listed. */
  readonly shown: string;
  readonly createdAt: number;
  /** ms since the epoch; null: never expires. */
  readonly expiresAt: number | null;
  /** The key that replaced this one (rotation). */
  readonly replacedBy?: string;
}

/** What an admin call asks for (checked against the records before it happens). */
export type Intent =
  | { readonly op: 'consumer'; readonly consumer: ConsumerRecord }
  | { readonly op: 'consumer-del'; readonly name: string }
  | { readonly op: 'key'; readonly key: KeyRecord }
  | { readonly op: 'rotate'; readonly oldId: string; readonly graceUntil: number; readonly key: KeyRecord }
  | { readonly op: 'key-del'; readonly consumer: string; readonly id: string };

/** A change as applied: puts and deletes, idempotent, in the order they happened. */
export type Change =
  | { readonly op: 'consumer'; readonly consumer: ConsumerRecord }
  | { readonly op: 'consumer-del'; readonly name: string }
  | { readonly op: 'key'; readonly key: KeyRecord }
  | { readonly op: 'rotate'; readonly old: KeyRecord; readonly key: KeyRecord }
  | { readonly op: 'key-del'; readonly id: string };

/** Why an intent cannot happen. */
export type Refusal = 'consumer-exists' | 'no-consumer' | 'no-key' | 'key-exists';

/** What a worker needs of a key. */
export interface WorkerKey {
  readonly id: string;
  readonly consumer: string;
  readonly hash: string;
  readonly expiresAt: number | null;
}

export interface WorkerConsumer {
  readonly name: string;
  readonly roles: readonly string[];
  readonly scopes: readonly string[];
}

/** Supervisor -> worker. `all` replaces the table (and makes it ready); `put`/`del` change it. */
export type ToWorker =
  | { readonly t: 'all'; readonly consumers: WorkerConsumer[]; readonly keys: WorkerKey[] }
  | { readonly t: 'put'; readonly consumers?: WorkerConsumer[]; readonly keys?: WorkerKey[] }
  | { readonly t: 'del'; readonly consumers?: string[]; readonly keys?: string[] };

/** Worker -> supervisor: [id, ms, id, ms, ...] of keys used since the last report. */
export interface UsedReport {
  readonly t: 'used';
  readonly used: (string | number)[];
}

const workerKey = (k: KeyRecord): WorkerKey => ({ id: k.id, consumer: k.consumer, hash: k.hash, expiresAt: k.expiresAt });
const workerConsumer = (c: ConsumerRecord): WorkerConsumer => ({ name: c.name, roles: c.roles, scopes: c.scopes });

export class State {
  readonly consumers = new Map<string, ConsumerRecord>();
  /** By key id. */
  readonly keys = new Map<string, KeyRecord>();
  /** Key id -> ms it was last used (approximate: workers report in batches). */
  readonly used = new Map<string, number>();

  /** The change an intent makes, or why it cannot be made. */
  prepare(i: Intent): Change | Refusal {
    switch (i.op) {
      case 'consumer':
        return this.consumers.has(i.consumer.name) ? 'consumer-exists' : i;
      case 'consumer-del':
        return this.consumers.has(i.name) ? i : 'no-consumer';
      case 'key':
        if (!this.consumers.has(i.key.consumer)) return 'no-consumer';
        return this.keys.has(i.key.id) ? 'key-exists' : i;
      case 'rotate': {
        const old = this.keys.get(i.oldId);
        if (old === undefined || old.consumer !== i.key.consumer) return 'no-key';
        if (this.keys.has(i.key.id)) return 'key-exists';
        return { op: 'rotate', old: rotated(old, i.graceUntil, i.key.id), key: i.key };
      }
      case 'key-del': {
        const k = this.keys.get(i.id);
        return k === undefined || k.consumer !== i.consumer ? 'no-key' : { op: 'key-del', id: i.id };
      }
    }
  }

  /** Applies a change; returns what undoes it (a store that failed to persist it). */
  apply(c: Change): () => void {
    const consumers = new Map<string, ConsumerRecord | undefined>();
    const keys = new Map<string, KeyRecord | undefined>();
    const saveC = (n: string) => consumers.has(n) || consumers.set(n, this.consumers.get(n));
    const saveK = (id: string) => keys.has(id) || keys.set(id, this.keys.get(id));
    const putK = (k: KeyRecord) => (saveK(k.id), this.keys.set(k.id, k));
    switch (c.op) {
      case 'consumer':
        saveC(c.consumer.name);
        this.consumers.set(c.consumer.name, c.consumer);
        break;
      case 'consumer-del':
        saveC(c.name);
        this.consumers.delete(c.name);
        for (const k of this.keys.values()) if (k.consumer === c.name) (saveK(k.id), this.keys.delete(k.id));
        break;
      case 'key':
        putK(c.key);
        break;
      case 'rotate':
        putK(c.old);
        putK(c.key);
        break;
      case 'key-del':
        saveK(c.id);
        this.keys.delete(c.id);
        break;
    }
    return () => {
      for (const [n, v] of consumers) v === undefined ? this.consumers.delete(n) : this.consumers.set(n, v);
      for (const [id, v] of keys) v === undefined ? this.keys.delete(id) : this.keys.set(id, v);
    };
  }

  /** Replaces everything (a store loaded or resynchronised). */
  replace(consumers: Iterable<ConsumerRecord>, keys: Iterable<KeyRecord>): void {
    this.consumers.clear();
    this.keys.clear();
    for (const c of consumers) this.consumers.set(c.name, c);
    for (const k of keys) this.keys.set(k.id, k);
  }

  /** The whole table, for a starting worker or after a resync. */
  all(): ToWorker {
    return { t: 'all', consumers: [...this.consumers.values()].map(workerConsumer), keys: [...this.keys.values()].map(workerKey) };
  }

  keysOf(consumer: string): KeyRecord[] {
    return [...this.keys.values()].filter((k) => k.consumer === consumer);
  }
}

/** An old key after rotation: it ends at the end of the grace period (or earlier, if it was to expire sooner). */
export function rotated(old: KeyRecord, graceUntil: number, newId: string): KeyRecord {
  const expiresAt = old.expiresAt === null ? graceUntil : Math.min(old.expiresAt, graceUntil);
  return { ...old, expiresAt, replacedBy: newId };
}

/** What workers are told about a change. */
export function toWorker(c: Change): ToWorker {
  switch (c.op) {
    case 'consumer':
      return { t: 'put', consumers: [workerConsumer(c.consumer)] };
    case 'consumer-del':
      return { t: 'del', consumers: [c.name] };
    case 'key':
      return { t: 'put', keys: [workerKey(c.key)] };
    case 'rotate':
      return { t: 'put', keys: [workerKey(c.old), workerKey(c.key)] };
    case 'key-del':
      return { t: 'del', keys: [c.id] };
  }
}
