// One worker's subscribers, by topic and by route, and delivery to them.
//
// Delivery itself is native: the listener's publish is uWS's App.publish,
// which writes one message to every socket subscribed to the topic without
// a JS call per socket. What JS adds is the slow-subscriber policy, which
// uWS cannot do per route (its maxBackpressure is one setting for the whole
// '/*' behavior, shared with the WebSocket proxy). So each route group counts
// the bytes published to topics its subscribers hold, and every
// maxBufferedBytes/4 of them it sweeps its subscribers' buffered amounts:
// - drop: a subscriber over the limit is closed with 1013 (and logged);
// - skip: a subscriber over the limit leaves its topics natively (it misses
//   what is published meanwhile) and rejoins once uWS has drained it to half
//   the limit (checked on uWS's drain event and on the next sweep).
// So a subscriber's unsent bytes stay under limit + limit/4 + what one turn
// of the event loop delivers, and the sweep costs one native call per
// subscriber per limit/4 bytes, not per message.
import { isUtf8 } from 'node:buffer';
import type { ResolvedPubSubRoute } from '../../config/resolve.js';
import type { Logger } from '../../observability/logger.js';

/** What the hub needs from a subscriber's connection (the listener implements it over uWS). */
export interface SubscriberSocket {
  /** Native subscription: published messages of `topic` reach this socket. */
  join(topic: string): void;
  leave(topic: string): void;
  /** Bytes written but not yet taken by the kernel. */
  bufferedAmount(): number;
  /** Closes with a close frame; the hub's `detach` follows (from the socket's close event). */
  end(code: number, reason: string): void;
  /** The client's address, for log lines. */
  readonly remote: string;
}

/** App-wide native publish (uWS App.publish). */
export type NativePublish = (topic: string, data: Uint8Array, binary: boolean) => void;

/** The subscribers of one compiled route (a reload makes a new group; old sockets stay in theirs). */
export class RouteGroup {
  readonly subs = new Set<Subscriber>();
  sinceCheck = 0;
  readonly checkEvery: number;
  constructor(
    readonly name: string,
    readonly settings: ResolvedPubSubRoute,
  ) {
    this.checkEvery = Math.max(1, Math.floor(settings.maxBufferedBytes / 4));
  }
}

export class Subscriber {
  readonly topics = new Set<string>();
  skipping = false;
  constructor(
    readonly group: RouteGroup,
    readonly socket: SubscriberSocket,
  ) {}
}

interface Topic {
  readonly subs: Set<Subscriber>;
  /** Route groups with subscribers here, and how many each. */
  readonly routes: Map<RouteGroup, number>;
  /** Subscribers here that are skipping (not natively joined). */
  skipping: number;
}

export interface HubStats {
  subscribers: number;
  topics: number;
  skipping: number;
  /** Messages that reached this worker. */
  published: number;
  /** Messages written to sockets (one per subscriber per message). */
  deliveries: number;
  /** Messages skipped subscribers missed. */
  skipped: number;
  /** Subscribers closed by the drop policy. */
  dropped: number;
  /** The largest unsent backlog of one subscriber right now (bytes held by uWS). */
  maxBuffered: number;
  routes: Record<string, number>;
}

/** At most this many per-subscriber log lines per sweep; the rest are one summary line. */
const LOG_PER_SWEEP = 5;

export class PubSubHub {
  readonly #topics = new Map<string, Topic>();
  readonly #subs = new Set<Subscriber>();
  readonly #publish: NativePublish;
  readonly #log: Logger;
  /** Where a client's publish goes (the worker's relay or broker). */
  onClientPublish: ((topic: string, data: Buffer) => void) | null = null;
  #published = 0;
  #deliveries = 0;
  #skipped = 0;
  #dropped = 0;

  constructor(publish: NativePublish, log: Logger) {
    this.#publish = publish;
    this.#log = log;
  }

  group(name: string, settings: ResolvedPubSubRoute): RouteGroup {
    return new RouteGroup(name, settings);
  }

  attach(group: RouteGroup, socket: SubscriberSocket): Subscriber {
    const s = new Subscriber(group, socket);
    group.subs.add(s);
    this.#subs.add(s);
    return s;
  }

  /** false: already subscribed or at the route's maxTopics. */
  subscribe(s: Subscriber, topic: string): boolean {
    if (s.topics.has(topic) || s.topics.size >= s.group.settings.maxTopics) return false;
    s.topics.add(topic);
    let t = this.#topics.get(topic);
    if (t === undefined) {
      t = { subs: new Set(), routes: new Map(), skipping: 0 };
      this.#topics.set(topic, t);
    }
    t.subs.add(s);
    t.routes.set(s.group, (t.routes.get(s.group) ?? 0) + 1);
    if (s.skipping) t.skipping++;
    else s.socket.join(topic);
    return true;
  }

  unsubscribe(s: Subscriber, topic: string): boolean {
    if (!s.topics.delete(topic)) return false;
    if (!s.skipping) s.socket.leave(topic);
    this.#forget(s, topic);
    return true;
  }

  /** A subscriber off a topic's books (its native subscription is the caller's business). */
  #forget(s: Subscriber, topic: string): void {
    const t = this.#topics.get(topic)!;
    t.subs.delete(s);
    const n = t.routes.get(s.group)! - 1;
    if (n === 0) t.routes.delete(s.group);
    else t.routes.set(s.group, n);
    if (s.skipping) t.skipping--;
    if (t.subs.size === 0) this.#topics.delete(topic);
  }

  /** The connection closed: forget it (uWS already dropped its native subscriptions). */
  detach(s: Subscriber): void {
    if (!this.#subs.delete(s)) return;
    s.group.subs.delete(s);
    for (const topic of s.topics) this.#forget(s, topic);
    s.topics.clear();
  }

  /**
   * One published message for this worker's subscribers of `topic`. Text
   * frame when the bytes are valid UTF-8, else binary (the same rule for
   * every source, so a broker's raw payload needs no envelope).
   */
  deliver(topic: string, data: Buffer): void {
    this.#published++;
    const t = this.#topics.get(topic);
    if (t === undefined) return;
    const len = data.length;
    // Deleting from a Map while iterating it is well-defined (a drop may remove a group).
    for (const g of t.routes.keys()) {
      g.sinceCheck += len;
      if (g.sinceCheck >= g.checkEvery) {
        g.sinceCheck = 0;
        this.#sweep(g);
      }
    }
    if (t.subs.size === 0) return;
    this.#deliveries += t.subs.size - t.skipping;
    this.#skipped += t.skipping;
    if (t.subs.size > t.skipping) this.#publish(topic, data, !isUtf8(data));
  }

  /** uWS drained some of a subscriber's backlog. */
  drained(s: Subscriber): void {
    if (s.skipping && s.socket.bufferedAmount() <= s.group.settings.maxBufferedBytes / 2) this.#resume(s);
  }

  clientPublish(topic: string, data: Buffer): void {
    this.onClientPublish?.(topic, data);
  }

  #sweep(g: RouteGroup): void {
    const limit = g.settings.maxBufferedBytes;
    const drop = g.settings.slow === 'drop';
    let victims: [Subscriber, number][] | null = null;
    for (const s of g.subs) {
      const b = s.socket.bufferedAmount();
      if (s.skipping) {
        if (b <= limit / 2) this.#resume(s);
      } else if (b > limit) {
        if (drop) (victims ??= []).push([s, b]);
        else this.#skip(s);
      }
    }
    if (victims === null) return;
    // Closed after the loop: the close event detaches the subscriber from the set being walked.
    victims.forEach(([s, buffered], i) => {
      this.#dropped++;
      if (i < LOG_PER_SWEEP) {
        this.#log.warn({ route: g.name, client: s.socket.remote, buffered, maxBufferedBytes: limit, topics: s.topics.size }, 'slow subscriber dropped (closed with 1013)');
      }
      s.socket.end(1013, 'subscriber too slow');
    });
    if (victims.length > LOG_PER_SWEEP) this.#log.warn({ route: g.name, dropped: victims.length, maxBufferedBytes: limit }, 'slow subscribers dropped (closed with 1013)');
  }

  #skip(s: Subscriber): void {
    s.skipping = true;
    for (const topic of s.topics) {
      s.socket.leave(topic);
      this.#topics.get(topic)!.skipping++;
    }
    this.#log.debug({ route: s.group.name, client: s.socket.remote }, 'slow subscriber skipping messages');
  }

  #resume(s: Subscriber): void {
    s.skipping = false;
    for (const topic of s.topics) {
      s.socket.join(topic);
      this.#topics.get(topic)!.skipping--;
    }
  }

  /** A draining worker: every subscriber is closed (1001). */
  closeAll(code: number, reason: string): void {
    for (const s of [...this.#subs]) s.socket.end(code, reason);
  }

  stats(): HubStats {
    const routes: Record<string, number> = {};
    let skipping = 0;
    let maxBuffered = 0;
    for (const s of this.#subs) {
      routes[s.group.name] = (routes[s.group.name] ?? 0) + 1;
      if (s.skipping) skipping++;
      maxBuffered = Math.max(maxBuffered, s.socket.bufferedAmount());
    }
    return {
      subscribers: this.#subs.size,
      topics: this.#topics.size,
      skipping,
      published: this.#published,
      deliveries: this.#deliveries,
      skipped: this.#skipped,
      dropped: this.#dropped,
      maxBuffered,
      routes,
    };
  }
}
