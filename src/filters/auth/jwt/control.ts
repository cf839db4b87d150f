// The jwt method's supervisor side (registered in supervisor/auth-control.ts):
// each provider's JWKS fetched once per gateway and broadcast to workers,
// refetches workers ask for (unknown kid), the jti revocation list behind
// the admin API (/auth/jwt/revocations), and the JWKS gauges on /metrics.
import { Counter, Gauge } from 'prom-client';
import type { AuthAdminAnswer, AuthAdminCall, AuthControl, AuthControlEnv } from '../../../supervisor/auth-control.js';
import { JwksSource } from './jwks-source.js';
import { REVOCATION_GRACE_MS, type ToSupervisor, type ToWorker } from './messages.js';
import { Revocations } from './revocations.js';
import type { JwtSectionConfig } from './schema.js';

/** Most revocations held (each a jti of at most MAX_JTI chars). */
const MAX_REVOCATIONS = 100_000;
const MAX_JTI = 256;

const bad = (message: string): AuthAdminAnswer => ({ status: 400, body: { error: { code: 'WICKET_ERR_BAD_REQUEST', message } } });

export class JwtControl implements AuthControl {
  readonly #env: AuthControlEnv;
  readonly #sources = new Map<string, JwksSource>();
  readonly #revoked = new Revocations();
  readonly #prune: NodeJS.Timeout;

  constructor(env: AuthControlEnv) {
    this.#env = env;
    this.#metrics();
    this.#prune = setInterval(() => this.#revoked.prune(Date.now()), 60_000);
    this.#prune.unref();
  }

  #send(m: ToWorker): void {
    this.#env.broadcast(m);
  }

  configure(section: unknown): void {
    const providers = (section as JwtSectionConfig | undefined)?.providers ?? {};
    for (const [name, s] of this.#sources) {
      if (providers[name]?.jwksUrl !== s.url) {
        s.close();
        this.#sources.delete(name);
      }
    }
    for (const [name, cfg] of Object.entries(providers)) {
      if (cfg.jwksUrl === undefined) continue;
      const have = this.#sources.get(name);
      if (have !== undefined) {
        have.update(cfg);
        continue;
      }
      const url = cfg.jwksUrl;
      this.#sources.set(name, new JwksSource(name, url, cfg, this.#env.log, (keys) => this.#send({ t: 'keys', provider: name, url, keys })));
    }
  }

  fromWorker(data: unknown, reply: (data: unknown) => void): void {
    const m = data as ToSupervisor;
    if (m?.t !== 'refetch') return;
    const s = this.#sources.get(m.provider);
    const answer = (): void => reply({ t: 'keys', provider: m.provider, url: m.url, keys: s?.url === m.url ? s.keys : null, answer: true } satisfies ToWorker);
    if (s === undefined || s.url !== m.url) return answer();
    // The broadcast of a new set (in onKeys) goes out before this answer: the worker has it when its wait ends.
    void s.refetch(Date.now()).then(answer);
  }

  snapshot(): unknown[] {
    const out: ToWorker[] = [{ t: 'revocations', entries: this.#revoked.entries() }];
    for (const [name, s] of this.#sources) if (s.keys !== null) out.push({ t: 'keys', provider: name, url: s.url, keys: s.keys });
    return out;
  }

  async admin(call: AuthAdminCall): Promise<AuthAdminAnswer | null> {
    const m = /^\/revocations(?:\/([^/]+))?\/?$/.exec(call.path);
    if (m === null) return null;
    let one: string | undefined;
    try {
      one = m[1] === undefined ? undefined : decodeURIComponent(m[1]);
    } catch {
      return bad('a malformed escape in the jti');
    }
    if (one === undefined && call.verb === 'GET') {
      const now = Date.now();
      const list = this.#revoked
        .entries()
        .filter(([, u]) => u === null || u > now)
        .map(([jti, until]) => ({ jti, exp: until === null ? null : Math.round((until - REVOCATION_GRACE_MS) / 1000) }));
      return { status: 200, body: { revocations: list } };
    }
    if (one === undefined && call.verb === 'POST') {
      const b = call.body as { jti?: unknown; exp?: unknown } | undefined;
      if (b === null || typeof b !== 'object') return bad('a JSON body {jti, exp?} is required');
      if (typeof b.jti !== 'string' || b.jti === '' || b.jti.length > MAX_JTI) return bad(`jti must be a string of 1 to ${MAX_JTI} characters`);
      if (b.exp !== undefined && b.exp !== null && (typeof b.exp !== 'number' || !Number.isInteger(b.exp) || b.exp <= 0)) return bad('exp must be the token exp (seconds since the epoch)');
      if (this.#revoked.size >= MAX_REVOCATIONS && !this.#revoked.has(b.jti, Date.now())) {
        this.#revoked.prune(Date.now());
        if (this.#revoked.size >= MAX_REVOCATIONS) return { status: 409, body: { error: { code: 'WICKET_ERR_REVOCATIONS_FULL', message: `revocation list full (${MAX_REVOCATIONS})` } } };
      }
      const until = typeof b.exp === 'number' ? b.exp * 1000 + REVOCATION_GRACE_MS : null;
      this.#revoked.add(b.jti, until);
      this.#send({ t: 'revoke', jti: b.jti, until });
      this.#env.log.info({ jti: b.jti }, 'JWT revoked');
      return { status: 201, body: { jti: b.jti, exp: b.exp ?? null } };
    }
    if (one !== undefined && call.verb === 'DELETE') {
      if (!this.#revoked.delete(one)) return { status: 404, body: { error: { code: 'WICKET_ERR_REVOCATION_NOT_FOUND', message: 'no such revocation' } } };
      this.#send({ t: 'unrevoke', jti: one });
      return { status: 200, body: { jti: one, deleted: true } };
    }
    return { status: 405, body: { error: { code: 'WICKET_ERR_METHOD_NOT_ALLOWED', message: `${call.verb} not allowed here` } } };
  }

  #metrics(): void {
    const registers = this.#env.registry === null ? [] : [this.#env.registry];
    const sources = (): IterableIterator<JwksSource> => this.#sources.values();
    const gauge = (name: string, help: string, read: (s: JwksSource) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['provider'],
        registers,
        collect() {
          this.reset();
          for (const s of sources()) this.set({ provider: s.provider }, read(s));
        },
      });
    };
    gauge('wicket_jwks_keys', 'Keys in the JWKS last fetched', (s) => s.keys?.length ?? 0);
    gauge('wicket_jwks_last_success_timestamp_seconds', 'When the JWKS was last fetched successfully (0: never)', (s) => s.lastSuccessMs / 1000);
    gauge('wicket_jwks_stale', '1 when the last JWKS fetch failed (the last good set still serves)', (s) => (s.stale ? 1 : 0));
    const counter = (name: string, help: string, read: (s: JwksSource) => [Record<string, string>, number][]): void => {
      new Counter({
        name,
        help,
        labelNames: ['provider', 'result'],
        registers,
        collect() {
          this.reset();
          for (const s of sources()) for (const [labels, n] of read(s)) this.inc({ provider: s.provider, ...labels }, n);
        },
      });
    };
    counter('wicket_jwks_fetches_total', 'JWKS fetches by result (ok, error)', (s) => [
      [{ result: 'ok' }, s.fetchesOk],
      [{ result: 'error' }, s.fetchesFailed],
    ]);
    counter('wicket_jwks_refetches_total', 'Refetches asked for by an unknown kid: run, or refused by the cooldown', (s) => [
      [{ result: 'run' }, s.refetches],
      [{ result: 'cooldown' }, s.refetchesRefused],
    ]);
    const revoked = this.#revoked;
    new Gauge({
      name: 'wicket_jwt_revocations',
      help: 'Revoked token ids (jti) held',
      registers,
      collect() {
        this.set(revoked.size);
      },
    });
  }

  close(): void {
    clearInterval(this.#prune);
    for (const s of this.#sources.values()) s.close();
    this.#sources.clear();
  }
}
