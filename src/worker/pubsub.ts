// The worker's end of fan-out: its hub, fed either by the supervisor's relay
// (IPC `publish` batches, no broker configured) or by its own broker
// subscription (every worker subscribes: no extra IPC hop per message), and
// where its clients' publishes go (clientPublish routes): the broker, or the
// supervisor, which relays them to every worker, this one included, so all
// subscribers see one order.
import { isDeepStrictEqual } from 'node:util';
import type { ResolvedPubSub } from '../config/load.js';
import { openBroker, redactUrl, type Broker } from '../features/pubsub/broker.js';
import { PubSubHub, type NativePublish } from '../features/pubsub/hub.js';
import type { Logger } from '../observability/logger.js';
import type { FromWorker, PublishItems } from '../ipc/messages.js';

/** How long a starting worker waits for its broker subscription before it says ready anyway (it keeps retrying). */
const SUBSCRIBE_WAIT_MS = 5000;

export class WorkerPubSub {
  readonly hub: PubSubHub;
  readonly #log: Logger;
  readonly #send: (m: FromWorker) => void;
  #conf: ResolvedPubSub['broker'];
  #broker: Broker | null = null;
  #out: PublishItems = [];

  constructor(publish: NativePublish, log: Logger, send: (m: FromWorker) => void) {
    this.hub = new PubSubHub(publish, log);
    this.#log = log;
    this.#send = send;
    this.hub.onClientPublish = (topic, data) => this.#clientPublish(topic, data);
  }

  /** Opens (or replaces) the broker subscription; resolves once it is confirmed or SUBSCRIBE_WAIT_MS passed. */
  async configure(conf: ResolvedPubSub): Promise<void> {
    if (this.#broker !== null && isDeepStrictEqual(conf.broker, this.#conf)) return;
    const old = this.#broker;
    this.#conf = conf.broker;
    this.#broker = null;
    if (old !== null) void old.close().catch(() => {});
    if (conf.broker === undefined) return;
    const broker = openBroker(conf.broker, this.#log);
    this.#broker = broker;
    const hub = this.hub;
    const subscribed = broker.subscribe((topic, data) => hub.deliver(topic, data));
    const ok = await Promise.race([subscribed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), SUBSCRIBE_WAIT_MS).unref())]);
    const where = { broker: conf.broker.type, url: redactUrl(conf.broker.url), prefix: conf.broker.channelPrefix };
    if (ok) this.#log.debug(where, 'pub/sub broker subscription ready');
    else this.#log.error(where, 'pub/sub broker not reachable yet: subscribers get no messages until it is (still trying)');
    subscribed.catch((err: Error) => this.#log.error({ ...where, error: err.message }, 'pub/sub broker subscription failed'));
  }

  /** A relay batch from the supervisor. */
  relayed(items: PublishItems): void {
    const hub = this.hub;
    for (let i = 0; i < items.length; i += 2) {
      const d = items[i + 1] as Uint8Array;
      hub.deliver(items[i] as string, Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    }
  }

  #clientPublish(topic: string, data: Buffer): void {
    const b = this.#broker;
    if (b !== null) {
      b.publish(topic, data).catch((err: Error) => this.#log.warn({ topic, error: err.message }, 'client publish lost: broker unavailable'));
      return;
    }
    // Batched per turn, like the supervisor's relay.
    if (this.#out.length === 0) setImmediate(() => this.#flush());
    this.#out.push(topic, data);
  }

  #flush(): void {
    const items = this.#out;
    this.#out = [];
    this.#send({ t: 'publish', items });
  }

  async close(): Promise<void> {
    const b = this.#broker;
    this.#broker = null;
    await b?.close();
  }
}
