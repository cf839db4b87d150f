// Active health checks, run once per interval in the supervisor (not once per
// worker). Results go to the targets' F_CHECK_DOWN bit in shared memory, so
// every worker stops or resumes sending at once.
//
// One probe loop per (upstream, target URL). A loop probes, waits out the
// rest of its interval, probes again: the next probe is scheduled only once
// the previous one has settled, so probes of one target never overlap. Every
// probe has a hard deadline (timeoutMs, which the config keeps <= intervalMs)
// and a fresh connection (no keep-alive: no stale sockets, and a probe sees
// what a new upstream connection would see). First probes are jittered over
// one interval so that many targets do not fire together.
//
// Thresholds (healthStep): a target goes down after `unhealthyThreshold`
// consecutive failures and comes back after `healthyThreshold` consecutive
// passes. A target starts healthy (flag clear) when first seen.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { ResolvedConfig, ResolvedHealthCheck } from '../config/load.js';
import type { Logger } from '../observability/logger.js';
import { F_CHECK_DOWN } from '../state/layout.js';
import type { StateStore } from '../state/store.js';

export const USER_AGENT = 'wicket-health/1';
/** Bytes of a probe's response body read (and discarded) before the connection is simply closed. */
const MAX_BODY_BYTES = 64 * 1024;

// ---------------------------------------------------------------- thresholds

export interface HealthState {
  healthy: boolean;
  /** Length of the current run of identical outcomes (0 before the first probe). */
  consecutive: number;
  /** Outcome of the latest probe (null before the first). */
  lastOk: boolean | null;
}

export const initialHealth = (): HealthState => ({ healthy: true, consecutive: 0, lastOk: null });

/**
 * One probe outcome applied to `s` (pure). `changed` is true when the target
 * crossed a threshold (healthy -> down or down -> healthy).
 */
export function healthStep(
  s: HealthState,
  ok: boolean,
  th: { healthyThreshold: number; unhealthyThreshold: number },
): HealthState & { changed: boolean } {
  const consecutive = s.lastOk === ok ? s.consecutive + 1 : 1;
  let healthy = s.healthy;
  if (healthy && !ok && consecutive >= th.unhealthyThreshold) healthy = false;
  else if (!healthy && ok && consecutive >= th.healthyThreshold) healthy = true;
  return { healthy, consecutive, lastOk: ok, changed: healthy !== s.healthy };
}

// ---------------------------------------------------------------- probes

interface Endpoint {
  protocol: 'http:' | 'https:';
  /** Connect address (IPv6 without brackets). */
  hostname: string;
  port: number;
  /** host[:port] as in the URL: the default Host header. */
  host: string;
}

function endpoint(url: string): Endpoint {
  const u = new URL(url);
  const protocol = u.protocol === 'https:' ? 'https:' : 'http:';
  const hostname = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : protocol === 'https:' ? 443 : 80;
  return { protocol, hostname, port, host: u.host };
}

/** A settled probe: null when it passed, else why it failed. */
type ProbeResult = string | null;

/** A probe in flight; `cancel` settles it (as a failure) and frees its socket. */
interface Running {
  cancel(): void;
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException | null;
  if (e && typeof e.code === 'string') return e.code;
  return e && typeof e.message === 'string' ? e.message : String(err);
}

function statusOk(status: number, expect: readonly number[]): boolean {
  return expect.length === 0 ? status >= 200 && status < 400 : expect.includes(status);
}

function probeHttp(ep: Endpoint, check: ResolvedHealthCheck, done: (r: ProbeResult) => void): Running {
  let settled = false;
  let req: http.ClientRequest | null = null;
  const finish = (r: ProbeResult): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    req?.destroy();
    done(r);
  };
  const timer = setTimeout(() => finish(`timed out after ${check.timeoutMs} ms`), check.timeoutMs);
  timer.unref();
  try {
    const host = check.host ?? ep.host;
    const options: https.RequestOptions = {
      protocol: ep.protocol,
      hostname: ep.hostname,
      port: ep.port,
      method: 'GET',
      path: check.path,
      agent: false,
      setHost: false,
      headers: { host, 'user-agent': USER_AGENT, accept: '*/*', connection: 'close' },
    };
    if (ep.protocol === 'https:') {
      const sni = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
      if (net.isIP(sni) === 0) options.servername = sni;
    }
    let response: { verdict: ProbeResult; res: http.IncomingMessage } | null = null;
    const r = (ep.protocol === 'https:' ? https : http).request(options, (res) => {
      const status = res.statusCode ?? 0;
      const verdict = statusOk(status, check.expectStatus) ? null : `status ${status}`;
      response = { verdict, res };
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > MAX_BODY_BYTES) finish(verdict); // enough read: the status decides
      });
      res.on('end', () => finish(verdict));
      res.on('error', (err) => finish(verdict ?? `response body: ${errText(err)}`));
      res.on('aborted', () => finish(verdict ?? 'response body cut'));
    });
    req = r;
    r.on('error', (err) => finish(errText(err)));
    r.on('close', () => {
      const got = response as { verdict: ProbeResult; res: http.IncomingMessage } | null;
      if (got === null) finish('connection closed');
      else finish(got.res.complete ? got.verdict : (got.verdict ?? 'response body cut'));
    });
    r.end();
  } catch (err) {
    finish(errText(err));
  }
  return { cancel: () => finish('cancelled') };
}

function probeTcp(ep: Endpoint, check: ResolvedHealthCheck, done: (r: ProbeResult) => void): Running {
  let settled = false;
  let sock: net.Socket | null = null;
  const finish = (r: ProbeResult): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    sock?.destroy();
    done(r);
  };
  const timer = setTimeout(() => finish(`timed out after ${check.timeoutMs} ms`), check.timeoutMs);
  timer.unref();
  try {
    const s = net.connect({ host: ep.hostname, port: ep.port });
    sock = s;
    s.once('connect', () => finish(null));
    s.on('error', (err) => finish(errText(err)));
    s.once('close', () => finish('connection closed'));
  } catch (err) {
    finish(errText(err));
  }
  return { cancel: () => finish('cancelled') };
}

// ---------------------------------------------------------------- checker

export interface TargetHealth {
  upstream: string;
  target: string;
  slot: number;
  healthy: boolean;
  /** Run length of the latest outcome: failures when `lastError` is set, else passes. */
  consecutive: number;
  /** Why the latest probe failed (absent when it passed or none ran yet). */
  lastError?: string;
  /** ISO time the latest probe settled. */
  lastCheckAt?: string;
}

class Probe {
  state: HealthState;
  lastError: string | undefined;
  lastCheckAt: number | undefined;
  #timer: NodeJS.Timeout | null = null;
  #running: Running | null = null;
  #stopped = false;
  readonly #ep: Endpoint;

  constructor(
    readonly upstream: string,
    readonly url: string,
    public slot: number,
    readonly check: ResolvedHealthCheck,
    /** JSON of `check`: a change of it means a new probe. */
    readonly checkKey: string,
    state: HealthState,
    readonly store: StateStore,
    readonly log: Logger,
  ) {
    this.state = state;
    this.#ep = endpoint(url);
  }

  start(): void {
    // Jitter the first probe over one interval.
    this.#schedule(Math.floor(Math.random() * this.check.intervalMs));
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const r = this.#running;
    this.#running = null;
    r?.cancel();
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => this.#run(), ms);
    this.#timer.unref();
  }

  #run(): void {
    this.#timer = null;
    if (this.#stopped || this.#running !== null) return;
    const started = Date.now();
    let settled = false;
    const done = (r: ProbeResult): void => {
      settled = true;
      this.#running = null;
      if (this.#stopped) return; // a stopped probe's slot may belong to someone else now
      try {
        this.#record(r);
      } catch (err) {
        this.log.error({ err, upstream: this.upstream, target: this.url }, 'health check bookkeeping failed');
      }
      this.#schedule(Math.max(0, this.check.intervalMs - (Date.now() - started)));
    };
    try {
      const running = this.check.type === 'tcp' ? probeTcp(this.#ep, this.check, done) : probeHttp(this.#ep, this.check, done);
      if (!settled) this.#running = running; // a probe may settle synchronously (bad options)
    } catch (err) {
      if (!settled) done(errText(err));
    }
  }

  #record(r: ProbeResult): void {
    const ok = r === null;
    const next = healthStep(this.state, ok, this.check);
    this.state = { healthy: next.healthy, consecutive: next.consecutive, lastOk: next.lastOk };
    this.lastError = r ?? undefined;
    this.lastCheckAt = Date.now();
    // Written every time (an idempotent atomic): the bit is right even if something cleared it.
    this.store.setFlag(this.slot, F_CHECK_DOWN, !next.healthy);
    if (!next.changed) return;
    if (next.healthy) {
      this.log.warn(
        { upstream: this.upstream, target: this.url, reason: `${next.consecutive} consecutive passing health checks` },
        'target passed its health checks; back in rotation',
      );
    } else {
      this.log.warn(
        { upstream: this.upstream, target: this.url, reason: `${next.consecutive} consecutive failed health checks, last: ${r}` },
        'target failed its health checks; out of rotation',
      );
    }
  }

  snapshot(): TargetHealth {
    const out: TargetHealth = {
      upstream: this.upstream,
      target: this.url,
      slot: this.slot,
      healthy: this.state.healthy,
      consecutive: this.state.consecutive,
    };
    if (this.lastError !== undefined) out.lastError = this.lastError;
    if (this.lastCheckAt !== undefined) out.lastCheckAt = new Date(this.lastCheckAt).toISOString();
    return out;
  }
}

const probeKey = (upstream: string, url: string): string => `${upstream}\n${url}`;

interface Wanted {
  upstream: string;
  url: string;
  slot: number;
  check: ResolvedHealthCheck;
  checkKey: string;
}

export class HealthChecker {
  /** Keyed by upstream + target URL (the same key the slots use). */
  readonly #probes = new Map<string, Probe>();
  #stopped = false;

  constructor(
    readonly store: StateStore,
    readonly log: Logger,
  ) {}

  /**
   * Starts, stops or retunes probes to match `config` (slots assigned).
   * Unchanged (upstream, URL, check) probes keep running with their counts; a
   * changed check restarts the probe but keeps the target's health (a down
   * target stays down until it passes the new check); targets that are no
   * longer checked get F_CHECK_DOWN cleared.
   */
  update(config: ResolvedConfig): void {
    if (this.#stopped) return;
    const want = new Map<string, Wanted>();
    for (const u of Object.values(config.upstreams)) {
      const check = u.healthCheck;
      if (check === undefined) continue;
      const checkKey = JSON.stringify(check);
      for (const t of u.targets) {
        if (t.slot < 0) continue; // never assigned: nothing to write to
        want.set(probeKey(u.name, t.url), { upstream: u.name, url: t.url, slot: t.slot, check, checkKey });
      }
    }
    // Health carried over to a restarted probe (same target and slot, new check).
    const carried = new Map<string, HealthState>();
    // Stop what is gone or changed first: a freed slot may go to a new target below.
    for (const [key, p] of this.#probes) {
      const w = want.get(key);
      if (w !== undefined && w.checkKey === p.checkKey && w.slot === p.slot) continue;
      p.stop();
      this.#probes.delete(key);
      if (w !== undefined && w.slot === p.slot) carried.set(key, p.state);
      else this.#clear(p.slot);
    }
    let started = 0;
    for (const [key, w] of want) {
      if (this.#probes.has(key)) continue;
      const prev = carried.get(key);
      if (prev === undefined) this.#clear(w.slot); // first seen: starts healthy
      const state: HealthState = prev ? { healthy: prev.healthy, consecutive: 0, lastOk: null } : initialHealth();
      const p = new Probe(w.upstream, w.url, w.slot, w.check, w.checkKey, state, this.store, this.log);
      this.#probes.set(key, p);
      p.start();
      started++;
    }
    if (started > 0) this.log.debug({ started, probes: this.#probes.size }, 'health checks updated');
  }

  #clear(slot: number): void {
    try {
      this.store.setFlag(slot, F_CHECK_DOWN, false);
    } catch (err) {
      this.log.error({ err, slot }, 'could not clear a health flag');
    }
  }

  /** Health of every checked target, for the admin API. */
  status(): TargetHealth[] {
    return [...this.#probes.values()].map((p) => p.snapshot());
  }

  stop(): void {
    this.#stopped = true;
    for (const p of this.#probes.values()) p.stop();
    this.#probes.clear();
  }
}
