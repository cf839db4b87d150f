// Admin listener (its own port, loopback by default). /healthz is open for
// probes; everything else needs `Authorization: Bearer <admin.token>`, and
// without a configured token only /healthz exists.
import http from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { validTopic } from '../features/pubsub/topics.js';
import type { AuthAdminAnswer, AuthAdminCall } from '../supervisor/auth-control.js';

/** One worker as the admin API shows it. */
export interface WorkerInfo {
  slot: number;
  pid: number | undefined;
  ready: boolean;
}

/** Where a POST /publish went. */
export interface PublishResult {
  via: 'relay' | 'redis' | 'nats';
  /** Workers the relay wrote to (relay only). */
  workers?: number;
}

export interface AdminTarget {
  allReady(): boolean;
  /** The current admin token (a reload may rotate it). */
  adminToken(): string | undefined;
  workers(): WorkerInfo[];
  /** Each worker's process.memoryUsage() (a worker that does not answer within 1 s is left out). */
  workerMemory(): Promise<{ pid: number | undefined; memory: unknown }[]>;
  readonly version: number;
  /** Targets with health, circuit, in-flight and latency from the shared state. */
  upstreams(): unknown;
  /** Gateway-wide shared counters. */
  stateCounters(): unknown;
  /** Prometheus text exposition and its content type. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** A rate-limit key's state (read) or its reset; null when the route or limit does not exist. */
  rateLimitKey(route: string, limit: string, key: string, reset: boolean): Promise<unknown | null>;
  /** Marks a target down (or back up) by hand; false when there is no such target. */
  setTargetDown(upstream: string, index: number, down: boolean): boolean;
  /** Fan-out: one message to every subscriber of `topic` (broker or relay). */
  publish(topic: string, data: Buffer): Promise<PublishResult>;
  /** Largest POST /publish body (pubsub.maxMessageBytes). */
  pubsubLimit(): number;
  /** Broker, pubsub routes and each worker's subscriber counts. */
  pubsub(): Promise<unknown>;
  /** An auth method's admin endpoint (/auth/<method>/...); null: no such endpoint. */
  auth(call: AuthAdminCall): Promise<AuthAdminAnswer | null>;
}

const AUTH_PATH = /^\/auth\/([A-Za-z]+)(\/.*)?$/;
/** Largest JSON body an auth admin call takes. */
const AUTH_BODY_LIMIT = 64 * 1024;

const TARGET_ACTION = /^\/upstreams\/([A-Za-z0-9_.-]+)\/targets\/(\d{1,5})\/(enable|disable)$/;

/** The whole body, or null once it passes `limit` (the rest is not read). */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? -1);
    if (declared > limit) return resolve(null);
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > limit) {
        req.pause();
        resolve(null);
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, n)));
    req.on('error', reject);
  });
}

export interface AdminOptions {
  host: string;
  port: number;
}

export class AdminServer {
  readonly #server: http.Server;
  readonly #opts: AdminOptions;
  readonly #target: AdminTarget;

  constructor(opts: AdminOptions, target: AdminTarget) {
    this.#opts = opts;
    this.#target = target;
    this.#server = http.createServer((req, res) => {
      // Only the path matters; never let a strange request-target throw.
      const raw = req.url ?? '/';
      const q = raw.indexOf('?');
      const url = { pathname: q === -1 ? raw : raw.slice(0, q), query: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)) };
      const json = (status: number, body: unknown): void => {
        const s = JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s), 'cache-control': 'no-store' });
        res.end(s);
      };
      if (url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
        const ok = target.allReady();
        return json(ok ? 200 : 503, { status: ok ? 'ok' : 'starting', configVersion: target.version, workers: target.workers().length });
      }
      if (!this.#authorized(req.headers.authorization)) {
        res.setHeader('www-authenticate', 'Bearer realm="wicket-admin"');
        return json(401, { error: { code: 'WICKET_ERR_ADMIN_UNAUTHORIZED', message: 'admin token required' } });
      }
      if (url.pathname === '/workers' && req.method === 'GET') {
        target.workerMemory().then(
          (mem) => {
            const byPid = new Map(mem.map((m) => [m.pid, m.memory]));
            json(200, { configVersion: target.version, workers: target.workers().map((w) => ({ ...w, memory: byPid.get(w.pid) ?? null })) });
          },
          () => json(200, { configVersion: target.version, workers: target.workers() }),
        );
        return;
      }
      if (url.pathname === '/upstreams' && req.method === 'GET') {
        return json(200, { configVersion: target.version, upstreams: target.upstreams() });
      }
      if (url.pathname === '/metrics' && req.method === 'GET') {
        target.metrics().then(
          (m) => {
            res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(m.body), 'cache-control': 'no-store' });
            res.end(m.body);
          },
          () => json(500, { error: { code: 'WICKET_ERR_INTERNAL', message: 'metrics unavailable' } }),
        );
        return;
      }
      if (url.pathname === '/ratelimit' && (req.method === 'GET' || req.method === 'DELETE')) {
        const route = url.query.get('route');
        const limit = url.query.get('limit');
        const key = url.query.get('key');
        if (!route || !limit || key === null) {
          return json(400, { error: { code: 'WICKET_ERR_BAD_REQUEST', message: 'route, limit and key query parameters are required (key parts joined by ",")' } });
        }
        target.rateLimitKey(route, limit, key, req.method === 'DELETE').then(
          (r) => (r === null ? json(404, { error: { code: 'WICKET_ERR_LIMIT_NOT_FOUND', message: 'no such route or limit' } }) : json(200, r)),
          (err: Error) => json(503, { error: { code: 'WICKET_ERR_RATE_LIMIT_UNAVAILABLE', message: err.message } }),
        );
        return;
      }
      if (url.pathname === '/publish') {
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST');
          return json(405, { error: { code: 'WICKET_ERR_METHOD_NOT_ALLOWED', message: 'use POST' } });
        }
        const topic = url.query.get('topic');
        if (!validTopic(topic)) {
          return json(400, { error: { code: 'WICKET_ERR_PUBSUB_BAD_TOPIC', message: 'topic query parameter: dot-separated tokens of A-Z a-z 0-9 _ ~ : -, at most 128 characters' } });
        }
        readBody(req, target.pubsubLimit()).then(
          (body) => {
            if (body === null) {
              res.setHeader('connection', 'close');
              return json(413, { error: { code: 'WICKET_ERR_BODY_TOO_LARGE', message: `message over pubsub.maxMessageBytes (${target.pubsubLimit()})` } });
            }
            target.publish(topic, body).then(
              (r) => json(202, { topic, bytes: body.length, ...r }),
              () => json(503, { error: { code: 'WICKET_ERR_PUBSUB_UNAVAILABLE', message: 'the pub/sub broker did not take the message' } }),
            );
          },
          () => res.destroy(),
        );
        return;
      }
      if (url.pathname === '/pubsub' && req.method === 'GET') {
        target.pubsub().then(
          (p) => json(200, p),
          () => json(500, { error: { code: 'WICKET_ERR_INTERNAL', message: 'pub/sub state unavailable' } }),
        );
        return;
      }
      if (url.pathname === '/state' && req.method === 'GET') {
        return json(200, { counters: target.stateCounters() });
      }
      const authCall = AUTH_PATH.exec(url.pathname);
      if (authCall !== null) {
        readBody(req, AUTH_BODY_LIMIT).then(
          (raw) => {
            if (raw === null) {
              res.setHeader('connection', 'close'); // the rest of the body is not read
              return json(413, { error: { code: 'WICKET_ERR_BODY_TOO_LARGE', message: `admin body over ${AUTH_BODY_LIMIT} bytes` } });
            }
            let body: unknown;
            if (raw.length > 0) {
              try {
                body = JSON.parse(raw.toString('utf8'));
              } catch {
                return json(400, { error: { code: 'WICKET_ERR_BAD_REQUEST', message: 'the body is not JSON' } });
              }
            }
            target.auth({ method: authCall[1]!, verb: req.method ?? 'GET', path: authCall[2] ?? '', query: url.query, body }).then(
              (a) => (a === null ? json(404, { error: { code: 'WICKET_ERR_ROUTE_NOT_FOUND', message: 'no such admin endpoint' } }) : json(a.status, a.body ?? null)),
              () => json(500, { error: { code: 'WICKET_ERR_INTERNAL', message: 'auth admin call failed' } }),
            );
          },
          () => res.destroy(),
        );
        return;
      }
      const action = TARGET_ACTION.exec(url.pathname);
      if (action !== null) {
        if (req.method !== 'POST') {
          res.setHeader('allow', 'POST');
          return json(405, { error: { code: 'WICKET_ERR_METHOD_NOT_ALLOWED', message: 'use POST' } });
        }
        const ok = target.setTargetDown(action[1]!, Number(action[2]), action[3] === 'disable');
        if (!ok) return json(404, { error: { code: 'WICKET_ERR_TARGET_NOT_FOUND', message: 'no such upstream target' } });
        return json(200, { upstream: action[1], target: Number(action[2]), adminDown: action[3] === 'disable' });
      }
      json(404, { error: { code: 'WICKET_ERR_ROUTE_NOT_FOUND', message: 'no such admin endpoint' } });
    });
    this.#server.headersTimeout = 10_000;
    this.#server.requestTimeout = 30_000;
  }

  #authorized(header: string | undefined): boolean {
    const token = this.#target.adminToken();
    if (!token || !header?.startsWith('Bearer ')) return false;
    const got = Buffer.from(header.slice(7));
    const want = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#opts.port, this.#opts.host, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
