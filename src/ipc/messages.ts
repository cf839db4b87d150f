// IPC between supervisor and workers (node:cluster, 'advanced' serialization:
// structured clone). Control messages are rare, never per request; `publish`
// carries fan-out traffic, batched per event-loop turn, its payloads as raw
// bytes (structured clone copies a Uint8Array as bytes: no base64, no JSON).
import type { ResolvedConfig } from '../config/load.js';
import type { HubStats } from '../features/pubsub/hub.js';

/** A worker's process.memoryUsage(), in bytes. */
export interface WorkerMemory {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/** Flat [topic, payload, topic, payload, ...], in publish order. */
export type PublishItems = (string | Uint8Array)[];

export type ToWorker =
  | { t: 'config'; version: number; config: ResolvedConfig }
  | { t: 'drain'; timeoutMs: number }
  /** SIGUSR1: reopen the access-log file (log rotation). */
  | { t: 'reopen' }
  | { t: 'publish'; items: PublishItems }
  | { t: 'pubsub-stats'; id: number }
  /** An auth method's supervisor side to its worker side (key sets, key tables, revocations). */
  | { t: 'auth'; method: string; data: unknown };

export type FromWorker =
  | { t: 'hello' }
  | { t: 'ready'; version: number }
  | { t: 'applied'; version: number }
  | { t: 'refused'; version: number; error: string }
  | { t: 'fatal'; error: string }
  /** Client publishes of a pubsub route without a broker: the supervisor relays them to every worker. */
  | { t: 'publish'; items: PublishItems }
  | { t: 'pubsub-stats'; id: number; stats: HubStats; memory: WorkerMemory }
  /** An auth method's worker side to its supervisor side (a key set refetch, ...). */
  | { t: 'auth'; method: string; data: unknown };
