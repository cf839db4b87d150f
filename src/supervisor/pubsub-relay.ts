// The supervisor's end of fan-out. A publish (admin API, or a worker's
// client publish) goes to the broker when one is configured, so every
// gateway's workers get it from there; without a broker it is relayed to this
// gateway's workers over IPC. Relay batches hold what was published in one
// event-loop turn, in publish order (one IPC send of a 100-byte message costs
// about 22 us end to end here: a batch pays that per-send cost once), and a
// publish resolves only once its batch was written to every worker's channel,
// so a publisher that awaits its publishes can't pile up memory in the
// supervisor.
import type { Worker } from 'node:cluster';
import { isDeepStrictEqual } from 'node:util';
import type { ResolvedPubSub } from '../config/load.js';
import { openBroker, redactUrl, type Broker } from '../features/pubsub/broker.js';
import type { HubStats } from '../features/pubsub/hub.js';
import type { Logger } from '../observability/logger.js';
import type { PublishItems, ToWorker, WorkerMemory } from '../ipc/messages.js';

export type { PublishResult } from '../control/admin.js';
import type { PublishResult } from '../control/admin.js';

export interface WorkerStats extends HubStats {
  pid: number | undefined;
  memory: WorkerMemory;
}

const STATS_WAIT_MS = 1000;

export class PubSubRelay {
  readonly #log: Logger;
  readonly #workers: () => Worker[];
  #conf: ResolvedPubSub['broker'];
  #broker: Broker | null = null;
  #batch: PublishItems = [];
  #waiters: { resolve: (n: number) => void }[] = [];
  #statsSeq = 0;
  readonly #statsWaiters = new Map<number, (w: Worker, s: HubStats, memory: WorkerMemory) => void>();

  /** `workers`: the workers that can hear IPC now. */
  constructor(log: Logger, workers: () => Worker[]) {
    this.#log = log;
    this.#workers = workers;
  }

  configure(conf: ResolvedPubSub): void {
    if (isDeepStrictEqual(conf.broker, this.#conf) && (conf.broker === undefined) === (this.#broker === null)) return;
    void this.#broker?.close().catch(() => {});
    this.#conf = conf.broker;
    this.#broker = conf.broker === undefined ? null : openBroker(conf.broker, this.#log);
    if (conf.broker !== undefined) this.#log.info({ broker: conf.broker.type, url: redactUrl(conf.broker.url), prefix: conf.broker.channelPrefix }, 'pub/sub through a broker');
  }

  broker(): { type: string; url: string; channelPrefix: string } | null {
    const c = this.#conf;
    return c === undefined ? null : { type: c.type, url: redactUrl(c.url), channelPrefix: c.channelPrefix };
  }

  async publish(topic: string, data: Buffer): Promise<PublishResult> {
    const b = this.#broker;
    if (b !== null) {
      await b.publish(topic, data);
      return { via: b.type };
    }
    const workers = await this.#relay(topic, data);
    return { via: 'relay', workers };
  }

  /** Client publishes from a worker (no broker): to every worker, in the order they came. */
  fromWorker(items: PublishItems): void {
    const b = this.#broker;
    for (let i = 0; i < items.length; i += 2) {
      const topic = items[i] as string;
      const d = items[i + 1] as Uint8Array;
      const data = Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength);
      // A broker configured meanwhile (reload): the broker, so other gateways get it too.
      if (b !== null) b.publish(topic, data).catch((err: Error) => this.#log.warn({ topic, error: err.message }, 'client publish lost: broker unavailable'));
      else void this.#relay(topic, data);
    }
  }

  #relay(topic: string, data: Buffer): Promise<number> {
    if (this.#batch.length === 0) setImmediate(() => this.#flush());
    this.#batch.push(topic, data);
    return new Promise((resolve) => this.#waiters.push({ resolve }));
  }

  #flush(): void {
    const items = this.#batch;
    const waiters = this.#waiters;
    this.#batch = [];
    this.#waiters = [];
    const workers = this.#workers();
    const m: ToWorker = { t: 'publish', items };
    let left = workers.length;
    const done = (): void => {
      for (const w of waiters) w.resolve(workers.length);
    };
    if (left === 0) return done();
    for (const w of workers) {
      // The callback runs once the message is written to the channel (or failed: a worker gone).
      w.send(m, undefined, () => {
        if (--left === 0) done();
      });
    }
  }

  /** Each worker's hub counts (a worker that does not answer in time is left out). */
  stats(): Promise<WorkerStats[]> {
    const workers = this.#workers();
    const id = ++this.#statsSeq;
    const out: WorkerStats[] = [];
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(t);
        this.#statsWaiters.delete(id);
        resolve(out.sort((a, b) => (a.pid ?? 0) - (b.pid ?? 0)));
      };
      const t = setTimeout(finish, STATS_WAIT_MS);
      this.#statsWaiters.set(id, (w, s, memory) => {
        out.push({ pid: w.process.pid, ...s, memory });
        if (out.length === workers.length) finish();
      });
      if (workers.length === 0) return finish();
      for (const w of workers) w.send({ t: 'pubsub-stats', id } satisfies ToWorker);
    });
  }

  statsReply(w: Worker, id: number, s: HubStats, memory: WorkerMemory): void {
    this.#statsWaiters.get(id)?.(w, s, memory);
  }

  async close(): Promise<void> {
    const b = this.#broker;
    this.#broker = null;
    await b?.close();
  }
}
