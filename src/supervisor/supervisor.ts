// The supervisor (node:cluster primary). It never handles a proxied request:
// it forks workers, restarts dead ones with backoff, applies config reloads,
// rolls workers over (new one ready before the old one drains), drains on
// SIGTERM/SIGINT and reports to systemd.
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { loadConfig, formatConfigErrors, ConfigInvalidError, type ResolvedConfig } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import { Backoff } from './backoff.js';
import type { FromWorker, ToWorker, WorkerMemory } from '../ipc/messages.js';
import { monotonicUsec, sdNotify, sdNotifyFlushed } from './sd-notify.js';
import { AdminServer, type WorkerInfo } from '../control/admin.js';
import { createSegment, segmentName, unlinkSegment, type Segment } from '../state/segment.js';
import { ShmStore } from '../state/shm-store.js';
import { F_ADMIN_DOWN, F_CHECK_DOWN, F_EJECTED } from '../state/layout.js';
import { SlotMap, assignSlots } from '../state/slots.js';
import { HealthChecker } from '../health/active-checks.js';
import { stateMetrics } from '../observability/state-metrics.js';
import { adminKey } from '../features/rate-limit/feature.js';
import { describeState, localAlgorithm } from '../features/rate-limit/algorithms.js';
import { reclaimWorkerConnections } from '../features/websocket/connections.js';
import { RedisTier } from '../features/rate-limit/redis-tier.js';
import type { Registry } from 'prom-client';
import { PubSubRelay, type PublishResult } from './pubsub-relay.js';
import { SupervisorAuth, type AuthAdminAnswer, type AuthAdminCall } from './auth-control.js';
import { dirname } from 'node:path';

/** Per-worker columns in the segment: room for a full rolling restart of the largest pool. */
const WORKER_SLOTS = 2 * 256 + 8;

interface Slot {
  readonly id: number;
  worker: Worker | null;
  ready: boolean;
  startedAt: number;
  readonly backoff: Backoff;
  timer: NodeJS.Timeout | null;
}

export type { WorkerInfo } from '../control/admin.js';

export class Supervisor {
  readonly #file: string;
  readonly #log: Logger;
  #config: ResolvedConfig;
  #version = 1;
  #slots: Slot[] = [];
  /** Workers on their way out (rolling restart, scale-down, shutdown). */
  readonly #retiring = new Set<Worker>();
  #stopping = false;
  #queue: Promise<void> = Promise.resolve();
  #admin: AdminServer | null = null;
  #readyWaiters = new Map<Worker, (ok: boolean) => void>();
  /** Workers whose message handler exists (they said hello). */
  readonly #listening = new WeakSet<Worker>();
  #appliedWaiters = new Map<Worker, () => void>();
  #segment: Segment | null = null;
  #store: ShmStore | null = null;
  #targetSlots: SlotMap | null = null;
  #upstreamSlots: SlotMap | null = null;
  #health: HealthChecker | null = null;
  #metrics: Registry | null = null;
  #redis: { conf: NonNullable<ResolvedConfig['rateLimit']['redis']>; tier: RedisTier } | null = null;
  #watch: NodeJS.Timeout | null = null;
  /** Columns of the segment in use by live workers. */
  readonly #columns = new Set<number>();
  /** Fan-out: to the broker, or to the workers over IPC. */
  readonly #pubsub: PubSubRelay;
  /** Auth methods' gateway-wide state (made with the shared state: its metrics go to the same registry). */
  #auth: SupervisorAuth | null = null;

  constructor(file: string, config: ResolvedConfig, log: Logger) {
    this.#file = file;
    this.#config = config;
    this.#log = log;
    // Workers that can hear IPC: said hello, still connected (retiring ones included: they close their subscribers themselves).
    this.#pubsub = new PubSubRelay(log, () => this.#liveWorkers());
  }

  /** POST /publish: through the broker, or relayed to every worker. */
  publish(topic: string, data: Buffer): Promise<PublishResult> {
    return this.#pubsub.publish(topic, data);
  }

  pubsubLimit(): number {
    return this.#config.pubsub.maxMessageBytes;
  }

  /** Each worker's memory (the same IPC round trip as GET /pubsub's counts). */
  async workerMemory(): Promise<{ pid: number | undefined; memory: WorkerMemory }[]> {
    return (await this.#pubsub.stats()).map((w) => ({ pid: w.pid, memory: w.memory }));
  }

  async pubsub(): Promise<unknown> {
    const workers = await this.#pubsub.stats();
    const routes = this.#config.routes.filter((r) => r.pubsub !== undefined).map((r) => ({ name: r.name, ...r.pubsub }));
    return { broker: this.#pubsub.broker(), routes, workers };
  }

  get config(): ResolvedConfig {
    return this.#config;
  }

  get version(): number {
    return this.#version;
  }

  /** The shared state (null before start). */
  get store(): ShmStore | null {
    return this.#store;
  }

  upstreams(): unknown {
    const store = this.#store;
    if (store === null) return [];
    const checks = new Map((this.#health?.status() ?? []).map((c) => [c.slot, c]));
    return Object.values(this.#config.upstreams).map((u) => ({
      name: u.name,
      balancer: u.balancer,
      circuit: u.circuitBreaker ? store.breaker(u.slot) : null,
      targets: u.targets.map((t, index) => {
        const healthy = store.usable(t.slot); // also clears an ejection that is over
        const s = store.target(t.slot);
        return {
          index,
          url: t.url,
          weight: t.weight,
          healthy,
          down: { check: (s.flags & F_CHECK_DOWN) !== 0, admin: (s.flags & F_ADMIN_DOWN) !== 0, ejected: (s.flags & F_EJECTED) !== 0 },
          active: s.active,
          retrying: s.retrying,
          ewmaMs: s.ewmaUs / 1000,
          ejectedForMs: s.ejectedForMs,
          ejections: s.ejections,
          consecutiveFailures: s.consecutiveFailures,
          requests: s.requests,
          failures: s.failures,
          check: checkOf(checks.get(t.slot)),
        };
      }),
    }));
  }

  stateCounters(): unknown {
    return this.#store?.counters() ?? {};
  }

  async rateLimitKey(route: string, limit: string, key: string, reset: boolean): Promise<unknown | null> {
    const r = this.#config.routes.find((x) => x.name === route);
    const spec = r?.rateLimit?.limits.find((l) => l.name === limit);
    if (spec === undefined || this.#store === null) return null;
    const table = this.#store.table;
    // A global limit's state is in Redis; its local fallback has cells of its own.
    const redis = spec.tier === 'global' ? this.#redisTier() : null;
    const parts = key.split(',').join('\u001f');
    const local = adminKey(spec.tier === 'global' ? { ...spec, id: `${spec.id}#local` } : spec, key);
    if (reset) {
      const cleared = table.reset(local);
      const remote = redis === null ? false : await redis.reset(spec, parts);
      this.#log.warn({ route, limit, tier: spec.tier }, 'rate-limit key reset by the admin API');
      return { route, limit, tier: spec.tier, reset: cleared || remote };
    }
    const v = table.get(local);
    return {
      route,
      limit,
      tier: spec.tier,
      algorithm: spec.algorithm,
      present: v !== undefined,
      state: v === undefined ? null : describeState({ ...spec, algorithm: localAlgorithm(spec.algorithm) }, v, Date.now()),
      expiresInSec: table.expiresIn(local) ?? null,
      ...(redis === null ? {} : { redis: await redis.peek(spec, parts) }),
    };
  }

  /** The admin API's own Redis client, made on first use (and remade when the settings change). */
  #redisTier(): RedisTier | null {
    const conf = this.#config.rateLimit.redis;
    if (conf === undefined) return null;
    if (this.#redis === null || !isDeepStrictEqual(this.#redis.conf, conf)) {
      void this.#redis?.tier.close();
      this.#redis = { conf, tier: new RedisTier({ ...conf, log: this.#log }) };
    }
    return this.#redis.tier;
  }

  setTargetDown(upstream: string, index: number, down: boolean): boolean {
    const u = Object.hasOwn(this.#config.upstreams, upstream) ? this.#config.upstreams[upstream] : undefined;
    const t = u?.targets[index];
    if (t === undefined || this.#store === null) return false;
    this.#store.setFlag(t.slot, F_ADMIN_DOWN, down);
    this.#log.warn({ upstream, target: t.url, down }, down ? 'target marked down by the admin API' : 'target marked up by the admin API');
    return true;
  }

  /** Creates the shared-state segment (replacing one left by a crashed run) and assigns slots. */
  #openState(): void {
    const st = this.#config.state;
    const name = segmentName(st.name);
    const { segment, replaced } = createSegment(name, {
      targets: st.targets,
      upstreams: st.upstreams,
      workerSlots: WORKER_SLOTS,
      tableCells: st.tableCells,
    });
    if (replaced !== null) this.#log.warn({ segment: name, reason: replaced }, 'replaced a shared-memory segment left by an earlier run');
    this.#segment = segment;
    this.#store = new ShmStore(segment, -1);
    this.#targetSlots = new SlotMap(st.targets);
    this.#upstreamSlots = new SlotMap(st.upstreams);
    assignSlots(this.#config, this.#targetSlots, this.#upstreamSlots, this.#store);
    this.#health = new HealthChecker(this.#store, this.#log);
    this.#health.update(this.#config);
    this.#metrics = stateMetrics(this.#store, () => this.#config);
    this.#auth = new SupervisorAuth({ log: this.#log, registry: this.#metrics }, (method, data) => {
      for (const w of this.#liveWorkers()) this.#send(w, { t: 'auth', method, data });
    });
    this.#auth.configure(this.#config.sections.auth as Record<string, unknown> | undefined, dirname(this.#config.source.file));
    this.#redisTier(); // connects now, so the admin API's first read finds it ready
    // A full keyed table is answered per key without state: say so in the log too.
    let full = 0;
    this.#watch = setInterval(() => {
      const now = this.#store!.counters().tableFull;
      if (now !== full) this.#log.warn({ refused: now - full, cells: st.tableCells }, 'keyed table full for some keys (state.tableCells)');
      full = now;
    }, 10_000);
    this.#watch.unref();
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    if (this.#metrics === null) return { contentType: 'text/plain', body: '' };
    return { contentType: this.#metrics.contentType, body: await this.#metrics.metrics() };
  }

  #takeColumn(): number {
    for (let c = 0; c < WORKER_SLOTS; c++) {
      if (!this.#columns.has(c)) {
        this.#columns.add(c);
        return c;
      }
    }
    return -1;
  }

  /** A worker is gone: its in-flight counts leave the shared totals. */
  #releaseColumn(column: number): void {
    if (column < 0 || !this.#columns.delete(column)) return;
    const store = this.#store;
    if (store === null) return;
    store.reclaimWorker(column);
    // And its open WebSockets leave each route's connection count (every route: a limit may have been removed since).
    reclaimWorkerConnections(store.table, this.#config.routes.filter((r) => r.websocket !== undefined).map((r) => r.name), column);
  }

  async start(): Promise<void> {
    cluster.setupPrimary({ serialization: 'advanced' });
    // Installed first: a signal during start-up is queued, never fatal.
    process.on('SIGHUP', () => this.#enqueue(() => this.reload()));
    process.on('SIGUSR2', () => this.#enqueue(() => this.rollingRestart()));
    // Log rotation: every worker reopens its access-log file.
    process.on('SIGUSR1', () => {
      for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send({ t: 'reopen' } satisfies ToWorker);
    });
    process.on('SIGTERM', () => void this.shutdown('SIGTERM'));
    process.on('SIGINT', () => void this.shutdown('SIGINT'));
    warnMigrateReq(this.#log);
    this.#openState();
    this.#pubsub.configure(this.#config.pubsub);
    this.#admin = new AdminServer(this.#config.admin, this);
    await this.#admin.listen();
    const starts: Promise<boolean>[] = [];
    for (let i = 0; i < this.#config.workers; i++) {
      const slot: Slot = { id: i, worker: null, ready: false, startedAt: 0, backoff: this.#backoff(), timer: null };
      this.#slots.push(slot);
      starts.push(this.#fork(slot));
    }
    const ok = await Promise.all(starts);
    if (ok.some((x) => !x)) throw new Error('workers failed to start');
    this.#log.info({ workers: this.#slots.length, port: this.#config.listen.http.port, admin: this.#config.admin.port }, 'wicket ready');
    sdNotify('READY=1', `STATUS=serving with ${this.#slots.length} workers`);
  }

  workers(): WorkerInfo[] {
    return this.#slots.map((s) => ({ slot: s.id, pid: s.worker?.process.pid, ready: s.ready }));
  }

  auth(call: AuthAdminCall): Promise<AuthAdminAnswer | null> {
    return this.#auth?.admin(call) ?? Promise.resolve(null);
  }

  adminToken(): string | undefined {
    return this.#config.admin.token;
  }

  allReady(): boolean {
    return !this.#stopping && this.#slots.length > 0 && this.#slots.every((s) => s.ready);
  }

  #backoff(): Backoff {
    const s = this.#config.supervisor;
    return new Backoff(s.restartBackoffMs, s.restartBackoffMaxMs);
  }

  #enqueue(job: () => Promise<void>): void {
    this.#queue = this.#queue.then(job).catch((err: Error) => this.#log.error({ err }, 'supervisor job failed'));
  }

  /** Forks a worker into `slot`; resolves true once it listens. */
  #fork(slot: Slot): Promise<boolean> {
    const config = this.#config;
    const column = this.#takeColumn();
    if (column < 0) {
      this.#log.error({ slot: slot.id }, 'no free worker column in the shared-state segment');
      return Promise.resolve(false);
    }
    const env = {
      WICKET_WORKER_SLOT: String(slot.id),
      WICKET_STATE: this.#segment!.name,
      WICKET_STATE_SLOT: String(column),
      // uWS reads this once at load: its hard header cap, kept above ours so
      // that we answer 431 rather than uWS dropping the connection.
      UWS_HTTP_MAX_HEADERS_SIZE: String(Math.max(65536, config.limits.maxHeaderBytes * 4)),
    };
    // Per fork: a reload may have changed it (workers then roll).
    // --expose-gc: an idle worker gives back the young generation it grew under load (worker/idle-gc.ts).
    cluster.setupPrimary({ execArgv: [...process.execArgv, `--max-semi-space-size=${config.supervisor.workerSemiSpaceMiB}`, '--expose-gc'] });
    const w = cluster.fork(env);
    slot.worker = w;
    slot.ready = false;
    slot.startedAt = Date.now();
    // The worker says hello once its message handler exists (ESM loads
    // async); it gets the config current at that moment, not at fork time.
    w.on('message', (m: FromWorker) => {
      if (m.t !== 'hello') return;
      this.#listening.add(w);
      if (this.#stopping || this.#retiring.has(w)) this.#send(w, { t: 'drain', timeoutMs: this.#config.supervisor.drainTimeoutMs });
      else {
        // Key sets and key tables first: the worker's first request may need them.
        for (const [method, data] of this.#auth?.snapshot() ?? []) this.#send(w, { t: 'auth', method, data });
        this.#send(w, { t: 'config', version: this.#version, config: this.#config });
      }
    });
    w.on('message', (m: FromWorker) => this.#onMessage(slot, w, m));
    w.on('exit', (code, signal) => {
      this.#releaseColumn(column);
      this.#onExit(slot, w, code, signal);
    });
    return new Promise((resolve) => {
      // A worker that never gets ready must not block the supervisor's queue.
      const t = setTimeout(() => {
        this.#log.error({ slot: slot.id, workerPid: w.process.pid }, 'worker not ready in time; stopping it');
        w.process.kill('SIGKILL');
      }, READY_TIMEOUT_MS);
      this.#readyWaiters.set(w, (ok) => {
        clearTimeout(t);
        resolve(ok);
      });
    });
  }

  /** Workers that said hello (a later one gets current state with its config) and are still connected. */
  #liveWorkers(): Worker[] {
    return Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && this.#listening.has(w) && w.isConnected());
  }

  #send(w: Worker, m: ToWorker): void {
    if (w.isConnected()) w.send(m);
  }

  #onMessage(slot: Slot, w: Worker, m: FromWorker): void {
    switch (m.t) {
      case 'ready':
        if (slot.worker === w) slot.ready = true;
        this.#readyWaiters.get(w)?.(true);
        this.#readyWaiters.delete(w);
        break;
      case 'applied':
        this.#appliedWaiters.get(w)?.();
        break;
      case 'refused':
        this.#log.error({ workerPid: w.process.pid, error: m.error }, 'worker refused config');
        this.#appliedWaiters.get(w)?.();
        break;
      case 'fatal':
        this.#log.error({ workerPid: w.process.pid, error: m.error }, 'worker failed to start');
        break;
      case 'publish':
        this.#pubsub.fromWorker(m.items);
        break;
      case 'pubsub-stats':
        this.#pubsub.statsReply(w, m.id, m.stats, m.memory);
        break;
      case 'auth':
        this.#auth?.fromWorker(m.method, m.data, (data) => this.#send(w, { t: 'auth', method: m.method, data }));
        break;
    }
  }

  #onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    this.#readyWaiters.get(w)?.(false);
    this.#readyWaiters.delete(w);
    this.#appliedWaiters.get(w)?.();
    this.#appliedWaiters.delete(w);
    if (this.#retiring.delete(w) || this.#stopping) return;
    if (slot.worker !== w) return;
    slot.ready = false;
    slot.worker = null;
    const delay = slot.backoff.next(Date.now() - slot.startedAt);
    this.#log.error({ slot: slot.id, workerPid: w.process.pid, code, signal, restartInMs: delay }, 'worker died');
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (!this.#stopping && slot.worker === null) void this.#fork(slot);
    }, delay);
  }

  /** SIGHUP: validate the file; refuse it whole on error, else apply everywhere. */
  async reload(): Promise<void> {
    sdNotify('RELOADING=1', monotonicUsec());
    let next: ResolvedConfig;
    try {
      next = await loadConfig(this.#file);
    } catch (err) {
      const lines = err instanceof ConfigInvalidError ? formatConfigErrors(err) : [(err as Error).message];
      this.#log.error({ errors: lines }, 'config reload refused; running config kept');
      sdNotify('READY=1', 'STATUS=reload refused: invalid config');
      return;
    }
    const prev = this.#config;
    // The running segment's room counts, not the new file's `state` (read at start).
    const room = roomError(next, this.#segment!);
    if (room !== null) {
      this.#log.error({ errors: [room] }, 'config reload refused; running config kept');
      sdNotify('READY=1', 'STATUS=reload refused: no room in shared memory');
      return;
    }
    assignSlots(next, this.#targetSlots!, this.#upstreamSlots!, this.#store!);
    this.#config = next;
    this.#version++;
    this.#health?.update(next);
    this.#redisTier();
    this.#pubsub.configure(next.pubsub);
    this.#auth?.configure(next.sections.auth as Record<string, unknown> | undefined, dirname(next.source.file));
    if (!isDeepStrictEqual(prev.state, next.state)) {
      this.#log.warn('state (shared-memory segment) changes take effect at the next start of the gateway');
      next.state = prev.state;
    }
    if (!isDeepStrictEqual(prev.admin.host, next.admin.host) || prev.admin.port !== next.admin.port) {
      this.#log.warn('admin host/port changes take effect at the next start of the gateway (the admin token applies now)');
    }
    if (needsRestart(prev, next)) {
      this.#log.info({ version: this.#version }, 'config changes listeners, limits, logging or worker count: rolling restart');
      await this.rollingRestart();
    } else {
      // Workers still starting get this config on hello.
      const waits = this.#slots
        .filter((s) => s.worker !== null && this.#listening.has(s.worker))
        .map((s) => new Promise<void>((resolve) => {
          const w = s.worker!;
          const t = setTimeout(resolve, 10_000);
          this.#appliedWaiters.set(w, () => {
            clearTimeout(t);
            this.#appliedWaiters.delete(w);
            resolve();
          });
          this.#send(w, { t: 'config', version: this.#version, config: next });
        }));
      await Promise.all(waits);
    }
    this.#log.info({ version: this.#version, routes: next.routes.length }, 'config reloaded');
    sdNotify('READY=1', `STATUS=config version ${this.#version}`);
  }

  /** SIGUSR2 (or a reload that needs it): replace workers one at a time. */
  async rollingRestart(): Promise<void> {
    const target = this.#config.workers;
    while (this.#slots.length < target) {
      const slot: Slot = { id: this.#slots.length, worker: null, ready: false, startedAt: 0, backoff: this.#backoff(), timer: null };
      this.#slots.push(slot);
      await this.#fork(slot);
    }
    for (const slot of [...this.#slots]) {
      if (this.#stopping) return;
      const old = slot.worker;
      if (slot.id >= target) {
        this.#slots = this.#slots.filter((s) => s !== slot);
        if (old) await this.#retire(old);
        continue;
      }
      if (slot.timer !== null) {
        clearTimeout(slot.timer);
        slot.timer = null;
      }
      if (old) this.#retiring.add(old);
      const ok = await this.#fork(slot);
      if (!ok) {
        this.#log.error({ slot: slot.id }, 'replacement worker failed to start; keeping the old one');
        if (old && !old.isDead()) {
          this.#retiring.delete(old);
          slot.worker = old;
          slot.ready = true;
        } else {
          slot.worker = null; // nothing serves this slot: start one with backoff
          slot.timer = setTimeout(() => {
            slot.timer = null;
            if (!this.#stopping && slot.worker === null) void this.#fork(slot);
          }, slot.backoff.next(0));
        }
        continue;
      }
      if (old) await this.#retire(old);
    }
    this.#log.info({ workers: this.#slots.length }, 'rolling restart done');
  }

  #retire(w: Worker): Promise<void> {
    this.#retiring.add(w);
    const timeoutMs = this.#config.supervisor.drainTimeoutMs;
    return new Promise((resolve) => {
      if (w.isDead()) return resolve();
      const kill = setTimeout(() => w.process.kill('SIGKILL'), timeoutMs + 2000);
      w.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      // A worker that has not said hello yet can't hear `drain`: it serves
      // nothing, so it is simply stopped (it drains too if it already listens).
      if (this.#listening.has(w)) this.#send(w, { t: 'drain', timeoutMs });
      else w.process.kill('SIGTERM');
    });
  }

  async shutdown(signal: string, exitCode = 0): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    sdNotify('STOPPING=1');
    this.#log.info({ signal }, 'draining workers');
    for (const s of this.#slots) if (s.timer) clearTimeout(s.timer);
    const live = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    await Promise.all(live.map((w) => this.#retire(w)));
    this.#health?.stop();
    if (this.#watch !== null) clearInterval(this.#watch);
    await this.#redis?.tier.close();
    await this.#pubsub.close();
    this.#auth?.close();
    await this.#admin?.close();
    if (this.#segment !== null) {
      try {
        unlinkSegment(this.#segment.name);
      } catch (err) {
        this.#log.warn({ err, segment: this.#segment.name }, 'could not unlink the shared-memory segment');
      }
    }
    await sdNotifyFlushed();
    this.#log.info('stopped');
    this.#log.flush();
    setTimeout(() => process.exit(exitCode), 20);
  }
}

/** Workers read listen, limits, log and their heap flags once at start: changing them means new workers. */
function needsRestart(a: ResolvedConfig, b: ResolvedConfig): boolean {
  return (
    a.workers !== b.workers ||
    a.supervisor.workerSemiSpaceMiB !== b.supervisor.workerSemiSpaceMiB ||
    !isDeepStrictEqual(a.listen, b.listen) ||
    !isDeepStrictEqual(a.limits, b.limits) ||
    !isDeepStrictEqual(a.log, b.log)
  );
}

const READY_TIMEOUT_MS = 30_000;

/** Whether `config` fits the running segment's slots (assignment can then not fail). */
function roomError(config: ResolvedConfig, segment: Segment): string | null {
  const ups = Object.values(config.upstreams);
  const targets = ups.reduce((n, u) => n + u.targets.length, 0);
  const l = segment.layout;
  if (targets > l.targets) return `upstreams: ${targets} targets in all, more than the running shared memory holds (${l.targets}; state.targets applies at the next start)`;
  if (ups.length > l.upstreams) return `upstreams: ${ups.length} upstreams, more than the running shared memory holds (${l.upstreams}; state.upstreams applies at the next start)`;
  return null;
}

/** The active check's view of a target, for the admin read-out (null: no check). */
function checkOf(c: ReturnType<HealthChecker['status']>[number] | undefined): unknown {
  if (c === undefined) return null;
  return { healthy: c.healthy, consecutive: c.consecutive, lastError: c.lastError, lastCheckAt: c.lastCheckAt };
}

/** Closing a SO_REUSEPORT listener resets its queued connections unless the kernel migrates them. */
function warnMigrateReq(log: Logger): void {
  try {
    const v = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();
    if (v !== '1') {
      log.warn('net.ipv4.tcp_migrate_req is 0: a rolling restart can reset connections still queued on a closing listener; set it to 1 (see docs/OPERATIONS.md)');
    }
  } catch {
    // Not Linux, or no such sysctl: nothing to say.
  }
}
