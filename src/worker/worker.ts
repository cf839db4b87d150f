// Worker bootstrap: wait for the first config from the supervisor, build the
// route table, listen (SO_REUSEPORT: every worker binds the port itself),
// then swap tables on reload and drain on request.
import type { ResolvedConfig } from '../config/load.js';
import { HttpListener } from '../listeners/uws/http-listener.js';
import type { ListenerHost } from '../listeners/host.js';
import { closeAllTunnels } from '../upstream/ws-tunnel.js';
import { H2Listener } from '../listeners/h2/h2-listener.js';
import { h2Sessions } from '../upstream/h2/sessions.js';
import type { RequestContext } from '../pipeline/context.js';
import { Gateway } from '../pipeline/gateway.js';
import { setErrorReporter } from '../pipeline/report.js';
import { PoolRegistry } from '../upstream/pools.js';
import { buildRouteTable, type RouteTable } from '../routing/compile.js';
import { RATE_LIMIT_ENV } from '../filters/rate-limit/index.js';
import { rateLimitEnv } from '../features/rate-limit/feature.js';
import { createAccessLogger, createLogger, type Logger } from '../observability/logger.js';
import { logAccess } from '../observability/access-log.js';
import type { FromWorker, ToWorker } from '../ipc/messages.js';
import { attachSegment } from '../state/segment.js';
import { ShmStore } from '../state/shm-store.js';
import { RedisTier } from '../features/rate-limit/redis-tier.js';
import { flushPendingCounts } from '../features/rate-limit/feature.js';
import { isDeepStrictEqual } from 'node:util';
import { WorkerPubSub } from './pubsub.js';
import { startIdleGc } from './idle-gc.js';
import { WorkerAuthServices } from '../filters/auth/services.js';
import { AUTH_SERVICES } from '../filters/auth/index.js';
import { dirname } from 'node:path';

const send = (m: FromWorker): void => {
  if (process.connected) process.send!(m);
};

interface Running {
  apply(config: ResolvedConfig, version: number): void;
  drain(timeoutMs: number): void;
  reopen(): void;
  pubsub: WorkerPubSub;
}

/**
 * One message handler for the worker's whole life: messages that arrive
 * while it is still starting (a reload, a drain) are kept and applied once it
 * listens, never dropped.
 */
export function runWorker(): void {
  let running: Running | null = null;
  let starting = false;
  let pendingConfig: Extract<ToWorker, { t: 'config' }> | null = null;
  let pendingDrain: number | null = null;
  // Made before the first config: the supervisor sends key sets and key tables ahead of it.
  const auth = new WorkerAuthServices((method, data) => send({ t: 'auth', method, data }));
  process.on('message', (m: ToWorker) => {
    if (m.t === 'auth') return auth.received(m.method, m.data);
    // Fan-out traffic: a worker still starting has no subscriber yet.
    if (m.t === 'publish') return running?.pubsub.relayed(m.items);
    if (m.t === 'reopen') return running?.reopen();
    if (m.t === 'pubsub-stats') {
      if (running !== null) send({ t: 'pubsub-stats', id: m.id, stats: running.pubsub.hub.stats(), memory: process.memoryUsage() });
      return;
    }
    if (running !== null) {
      if (m.t === 'config') running.apply(m.config, m.version);
      else running.drain(m.timeoutMs);
      return;
    }
    if (m.t === 'drain') {
      if (!starting) process.exit(0); // nothing to drain yet
      pendingDrain = m.timeoutMs;
      return;
    }
    if (starting) {
      pendingConfig = m;
      return;
    }
    starting = true;
    start(m.config, m.version, auth).then(
      (r) => {
        running = r;
        if (pendingConfig !== null) r.apply(pendingConfig.config, pendingConfig.version);
        if (pendingDrain !== null) r.drain(pendingDrain);
      },
      (err: Error) => {
        send({ t: 'fatal', error: err.message });
        setTimeout(() => process.exit(1), 50);
      },
    );
  });
  send({ t: 'hello' });
}

async function start(config: ResolvedConfig, version: number, auth: WorkerAuthServices): Promise<Running> {
  const log = createLogger(config.log.level, 'worker');
  const accessLog = config.log.access ? createAccessLogger(config.log.accessFile) : null;
  const access: Logger | null = accessLog?.log ?? null;
  // The access log is buffered; flush at least once a second so tails stay live.
  if (access !== null) setInterval(() => access.flush(), 1000).unref();
  // The supervisor created the shared-state segment and gave us a column in it.
  const segmentName = process.env.WICKET_STATE;
  const stateSlot = Number(process.env.WICKET_STATE_SLOT);
  if (!segmentName || !Number.isInteger(stateSlot)) throw new Error('WICKET_STATE / WICKET_STATE_SLOT not set: workers are started by the supervisor');
  const store = new ShmStore(attachSegment(segmentName), stateSlot);
  const pools = new PoolRegistry();
  // The global rate-limit tier: one Redis client per worker, replaced when its settings change.
  let redisConf = config.rateLimit.redis;
  let redis: RedisTier | null = redisConf ? new RedisTier({ ...redisConf, log }) : null;
  // The hub publishes through the listener's uWS app (made below, before any subscriber exists).
  let listener: HttpListener | null = null;
  const pubsub = new WorkerPubSub((topic, data, binary) => listener!.publish(topic, data, binary), log, send);
  // A filter or action that threw: logged with its request, the worker goes on.
  setErrorReporter((err, where, ctx) => log.error({ err, where, reqId: ctx?.requestId, route: ctx?.route || undefined }, 'request path error'));
  const compile = (c: ResolvedConfig, v: number, tier: RedisTier | null): RouteTable => {
    auth.configure(c.sections.auth as Parameters<WorkerAuthServices['configure']>[0], dirname(c.source.file));
    const services = new Map<string, unknown>([[RATE_LIMIT_ENV, rateLimitEnv(c, store, tier)], [AUTH_SERVICES, auth]]);
    return buildRouteTable(c, v, { pools, store, workerSlot: stateSlot, hub: pubsub.hub, services, log });
  };
  let table: RouteTable = compile(config, version, redis);
  let inflight = 0;
  let served = 0;
  startIdleGc(() => served);
  let draining = false;
  let drainCheck: (() => void) | null = null;

  const gateway = new Gateway({
    table: () => table,
    done: (ctx: RequestContext) => {
      inflight--;
      served++;
      store.count('requests');
      if (access !== null) logAccess(access, ctx);
      if (drainCheck !== null && inflight === 0) drainCheck();
    },
  });
  const host: ListenerHost = {
    gateway,
    draining: () => draining,
    begin: () => {
      inflight++;
    },
  };

  listener = new HttpListener(
    {
      host: config.listen.http.host,
      port: config.listen.http.port,
      maxWebSocketMessageBytes: config.limits.maxWebSocketMessageBytes,
    },
    host,
  );
  // With a broker, subscribed before ready: a publish right after start reaches this worker.
  await pubsub.configure(config.pubsub);
  await listener.listen();
  // HTTP/2 (h2c, TLS + HTTP/1.1) on node:http2 when configured: the same host, phases and route table.
  const l = config.listen;
  const h2 =
    l.h2c || l.https
      ? new H2Listener(
          {
            ...(l.h2c ? { h2c: l.h2c } : {}),
            ...(l.https ? { https: l.https } : {}),
            maxHeaderBytes: config.limits.maxHeaderBytes,
            maxConcurrentStreams: config.limits.http2MaxConcurrentStreams,
            maxResets: config.limits.http2MaxResets,
          },
          host,
        )
      : null;
  await h2?.listen();
  log.info({ port: config.listen.http.port, h2c: l.h2c?.port, https: l.https?.port, version }, 'worker listening');
  send({ t: 'ready', version });

  const drain = (timeoutMs: number): void => {
    if (draining) return;
    draining = true;
    listener!.close();
    h2?.close();
    // WebSockets never finish on their own: both sides get 1001 going away.
    closeAllTunnels('gateway shutting down');
    pubsub.hub.closeAll(1001, 'gateway shutting down');
    log.info({ inflight }, 'draining');
    const deadline = setTimeout(() => {
      log.warn({ inflight }, 'drain timeout: exiting with requests in flight');
      exit();
    }, timeoutMs);
    deadline.unref();
    // Connections still open get `Connection: close` on their next response
    // (bodiless 204/304 proxied replies excepted: uWS can't close those);
    // wait until nothing has been in flight for a short settle time.
    let settle: NodeJS.Timeout | null = null;
    drainCheck = () => {
      if (settle !== null) clearTimeout(settle);
      settle = setTimeout(() => (inflight === 0 ? exit() : undefined), 300);
    };
    if (inflight === 0) drainCheck();
  };

  let exiting = false;
  const exit = (): void => {
    if (exiting) return;
    exiting = true;
    // Allowed/limited counts of the last second would otherwise be lost with this process.
    flushPendingCounts();
    // Pools wait for their exchanges; a drain deadline does not.
    h2Sessions.closeAll();
    Promise.race([Promise.all([pools.closeAll(), redis?.close(), pubsub.close()]), new Promise((r) => setTimeout(r, 1000).unref())])
      .catch(() => {})
      .finally(() => {
        flushPendingCounts(); // what arrived while pools closed
        access?.flush();
        log.flush();
        setTimeout(() => process.exit(0), 20);
      });
  };

  const apply = (next: ResolvedConfig, v: number): void => {
    try {
      const nextRedis = next.rateLimit.redis;
      if (!isDeepStrictEqual(nextRedis, redisConf)) {
        const old = redis;
        redis = nextRedis ? new RedisTier({ ...nextRedis, log }) : null;
        redisConf = nextRedis;
        // Requests in flight on the old table may still be waiting on it.
        if (old !== null) setTimeout(() => void old.close().catch(() => {}), 5000).unref();
      }
      const t = compile(next, v, redis);
      table = t;
      void pubsub.configure(next.pubsub);
      pools.retain(t.pools);
      send({ t: 'applied', version: v });
    } catch (err) {
      send({ t: 'refused', version: v, error: (err as Error).message });
    }
  };
  // A terminal's Ctrl-C or systemd's SIGTERM reach the workers too: drain.
  process.on('SIGINT', () => drain(config.supervisor.drainTimeoutMs));
  process.on('SIGTERM', () => drain(config.supervisor.drainTimeoutMs));
  process.on('disconnect', () => drain(config.supervisor.drainTimeoutMs));
  return { apply, drain, pubsub, reopen: () => accessLog?.reopen() };
}
