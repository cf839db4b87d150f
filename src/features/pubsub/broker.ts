// Brokers for fan-out across gateways. Every publish goes to the broker on
// channel (Redis) or subject (NATS) `channelPrefix + topic`; every worker of
// every gateway subscribes to the whole prefix and hands what arrives to its
// hub. Payloads are the raw message bytes (no envelope), so any service can
// publish to the broker directly. A publish that the broker has not taken
// within PUBLISH_DEADLINE_MS fails (the admin API answers 503); messages
// published while a subscriber is disconnected are lost (pub/sub, not a queue).
// URLs may hold passwords: only redactUrl() output is ever logged.
import { Redis } from 'ioredis';
import type { NatsConnection } from 'nats';
import type { Logger } from '../../observability/logger.js';

export interface BrokerSettings {
  type: 'redis' | 'nats';
  url: string;
  channelPrefix: string;
}

export interface Broker {
  readonly type: 'redis' | 'nats';
  /** Resolves once the broker took the message; rejects after the deadline. */
  publish(topic: string, data: Buffer): Promise<void>;
  /** Every message under the prefix goes to `onMessage`; resolves once the server confirmed the subscription. */
  subscribe(onMessage: (topic: string, data: Buffer) => void): Promise<void>;
  close(): Promise<void>;
}

export const PUBLISH_DEADLINE_MS = 2000;

/** The URL without its password, for logs and the admin API. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const who = u.username === '' && u.password === '' ? '' : `${u.username}${u.password === '' ? '' : ':***'}@`;
    return `${u.protocol}//${who}${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

export function openBroker(s: BrokerSettings, log: Logger): Broker {
  return s.type === 'redis' ? new RedisBroker(s, log) : new NatsBroker(s, log);
}

function deadline<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer from the broker in ${PUBLISH_DEADLINE_MS} ms`)), PUBLISH_DEADLINE_MS);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Connection errors repeat while a broker is away: one log line per 10 s per connection. */
function errorLogger(log: Logger, fields: object): (err: Error) => void {
  let last = 0;
  return (err) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    log.warn({ ...fields, error: err.message }, 'pub/sub broker connection error (retrying)');
  };
}

class RedisBroker implements Broker {
  readonly type = 'redis' as const;
  readonly #s: BrokerSettings;
  readonly #log: Logger;
  /** A subscribed connection can't publish: one of each, made on first use. */
  #pub: Redis | null = null;
  #sub: Redis | null = null;

  constructor(s: BrokerSettings, log: Logger) {
    this.#s = s;
    this.#log = log;
  }

  #client(role: 'pub' | 'sub'): Redis {
    const r = new Redis(this.#s.url, {
      // A publish fails fast (the admin API answers 503); the subscription waits for the server however long it takes.
      maxRetriesPerRequest: role === 'pub' ? 1 : null,
      retryStrategy: (n) => Math.min(50 * 2 ** Math.min(n, 6), 2000),
      connectionName: `wicket-pubsub-${role}`,
    });
    r.on('error', errorLogger(this.#log, { broker: 'redis', url: redactUrl(this.#s.url), role }));
    return r;
  }

  publish(topic: string, data: Buffer): Promise<void> {
    this.#pub ??= this.#client('pub');
    return deadline(this.#pub.publish(this.#s.channelPrefix + topic, data), 'redis PUBLISH').then(() => undefined);
  }

  subscribe(onMessage: (topic: string, data: Buffer) => void): Promise<void> {
    const sub = (this.#sub ??= this.#client('sub'));
    const skip = Buffer.byteLength(this.#s.channelPrefix);
    // Buffers: binary payloads stay intact. ioredis resubscribes after a reconnect.
    sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) => onMessage(channel.toString('utf8', skip), message));
    return sub.psubscribe(`${this.#s.channelPrefix}*`).then(() => undefined);
  }

  async close(): Promise<void> {
    const all = [this.#pub, this.#sub].filter((r): r is Redis => r !== null);
    this.#pub = this.#sub = null;
    await Promise.all(all.map((r) => r.quit().catch(() => r.disconnect())));
  }
}

class NatsBroker implements Broker {
  readonly type = 'nats' as const;
  readonly #s: BrokerSettings;
  readonly #log: Logger;
  #nc: Promise<NatsConnection> | null = null;
  #closed = false;

  constructor(s: BrokerSettings, log: Logger) {
    this.#s = s;
    this.#log = log;
  }

  /** One connection for both directions (NATS allows it), made on first use, reconnecting for ever. */
  #conn(): Promise<NatsConnection> {
    if (this.#nc !== null) return this.#nc;
    const u = new URL(this.#s.url);
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    const auth = user === '' ? {} : pass === '' ? { token: user } : { user, pass };
    const onError = errorLogger(this.#log, { broker: 'nats', url: redactUrl(this.#s.url) });
    // Loaded only when a NATS broker is configured: workers without one don't carry the library.
    this.#nc = import('nats').then(({ connect }) => connect({
      servers: `${u.hostname}:${u.port === '' ? '4222' : u.port}`,
      name: 'wicket',
      ...auth,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
    })).then((nc) => {
      void (async () => {
        for await (const st of nc.status()) if (st.type === 'disconnect' || st.type === 'error') onError(new Error(`${st.type}`));
      })().catch(() => {});
      return nc;
    });
    this.#nc.catch((err: Error) => onError(err));
    return this.#nc;
  }

  async publish(topic: string, data: Buffer): Promise<void> {
    const nc = await deadline(this.#conn(), 'nats connect');
    nc.publish(this.#s.channelPrefix + topic, data);
    // The server's PONG to our PING: it has the message.
    await deadline(nc.flush(), 'nats PUB');
  }

  async subscribe(onMessage: (topic: string, data: Buffer) => void): Promise<void> {
    const nc = await this.#conn();
    const skip = this.#s.channelPrefix.length;
    nc.subscribe(`${this.#s.channelPrefix}>`, {
      callback: (err, m) => {
        if (err === null) onMessage(m.subject.slice(skip), Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
      },
    });
    await nc.flush();
  }

  async close(): Promise<void> {
    if (this.#closed || this.#nc === null) return;
    this.#closed = true;
    // A connection still being tried (server away) is left to the process exit.
    const nc = await Promise.race([this.#nc.catch(() => null), new Promise<null>((r) => setTimeout(() => r(null), 500).unref())]);
    await nc?.drain().catch(() => nc.close());
  }
}
