// One subscriber of a pubsub route: upgraded at once (no upstream),
// its topics joined natively on open, the client protocol (subscribe,
// unsubscribe, publish as JSON text frames) applied when the route allows it.
// Close codes the gateway sends: 1013 slow subscriber dropped (hub), 1008 a
// client message the route does not allow or cannot parse, 1003 a binary
// client message, 1009 one over the route's maxMessageBytes, 1001 drain.
import type { RequestContext, Upgrade, WsClient, WsEndpoint } from '../../pipeline/context.js';
import type { ResolvedPubSubRoute } from '../../config/resolve.js';
import type { PubSubHub, RouteGroup, Subscriber, SubscriberSocket } from './hub.js';
import { parseClientOp } from './topics.js';

/** A compiled pubsub route. */
export interface PubSubRoute {
  readonly settings: ResolvedPubSubRoute;
  readonly group: RouteGroup;
  readonly hub: PubSubHub;
}

export class PubSubSocket implements WsEndpoint, SubscriberSocket {
  readonly #ctx: RequestContext;
  readonly #route: PubSubRoute;
  readonly #initial: string[];
  readonly #done: (ctx: RequestContext) => void;
  #ws: WsClient | null = null;
  #sub: Subscriber | null = null;
  #closed = false;
  readonly remote: string;

  constructor(ctx: RequestContext, route: PubSubRoute, topics: string[], done: (ctx: RequestContext) => void) {
    this.#ctx = ctx;
    this.#route = route;
    this.#initial = topics;
    this.#done = done;
    this.remote = ctx.remoteAddress;
  }

  /** The 101 at once: no subprotocol, no extensions (published frames go out uncompressed). */
  upgrade(hs: Upgrade): void {
    this.#ctx.status = 101;
    hs.accept(this, '', '', []);
  }

  // --- SubscriberSocket (called by the hub) -------------------------------------

  join(topic: string): void {
    this.#ws!.subscribe(topic);
  }

  leave(topic: string): void {
    this.#ws!.unsubscribe(topic);
  }

  bufferedAmount(): number {
    return this.#ws!.bufferedAmount();
  }

  end(code: number, reason: string): void {
    const ws = this.#ws;
    if (ws === null || this.#closed) return;
    ws.end(code, reason); // calls clientClosed at once
  }

  // --- uWS events -------------------------------------------------------------------

  clientOpened(ws: WsClient): void {
    this.#ws = ws;
    const { hub, group } = this.#route;
    const sub = hub.attach(group, this);
    this.#sub = sub;
    for (const t of this.#initial) hub.subscribe(sub, t);
  }

  clientMessage(msg: ArrayBuffer, binary: boolean): void {
    const s = this.#route.settings;
    if (!s.clientSubscribe && !s.clientPublish) return this.end(1008, 'this route takes no client messages');
    if (binary) return this.end(1003, 'binary messages are not accepted');
    if (msg.byteLength > s.maxMessageBytes) return this.end(1009, 'message too big');
    // toString copies out of uWS's buffer, which is reused after this call.
    const op = parseClientOp(Buffer.from(msg).toString('utf8'));
    if (typeof op === 'string') return this.end(1008, op);
    const hub = this.#route.hub;
    const sub = this.#sub!;
    switch (op.op) {
      case 'subscribe':
        if (!s.clientSubscribe) return this.end(1008, 'subscribe not allowed on this route');
        if (!sub.topics.has(op.topic) && !hub.subscribe(sub, op.topic)) return this.end(1008, `more than ${s.maxTopics} topics`);
        return;
      case 'unsubscribe':
        if (!s.clientSubscribe) return this.end(1008, 'unsubscribe not allowed on this route');
        hub.unsubscribe(sub, op.topic);
        return;
      case 'publish':
        if (!s.clientPublish) return this.end(1008, 'publish not allowed on this route');
        if (!sub.topics.has(op.topic)) return this.end(1008, 'publish only to a subscribed topic');
        hub.clientPublish(op.topic, Buffer.from(op.data));
        return;
    }
  }

  clientDrained(): void {
    if (this.#sub !== null) this.#route.hub.drained(this.#sub);
  }

  clientPing(): void {
    // uWS answers pings itself.
  }

  clientPong(): void {}

  clientClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sub !== null) this.#route.hub.detach(this.#sub);
    this.#done(this.#ctx);
  }
}
