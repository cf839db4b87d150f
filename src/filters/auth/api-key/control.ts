// The apiKey method's supervisor side (src/supervisor/auth-control.ts): owns
// the key store, answers the admin API, and keeps every worker's table in
// step (the whole table to a starting worker, each change to all of them as
// it happens). Workers report which keys they used; the store keeps that as
// "last used", approximately (docs/ARCHITECTURE.md "Identity").
import type { KeyObject } from 'node:crypto';
import { resolve } from 'node:path';
import { Gauge } from 'prom-client';
import type { AuthAdminAnswer, AuthAdminCall, AuthControl, AuthControlEnv } from '../../../supervisor/auth-control.js';
import { apiKeyAdmin } from './admin.js';
import { FileStore } from './file-store.js';
import { DEFAULT_GRACE_SECONDS, DEFAULT_PREFIX, DEFAULT_REDIS_PREFIX, readSecret } from './keys.js';
import { toWorker, type Change, type Intent, type Refusal } from './records.js';
import { RedisStore } from './redis-store.js';
import type { ApiKeySectionConfig } from './schema.js';
import type { KeyStore, StoreEvents } from './store.js';

export class ApiKeyControl implements AuthControl {
  readonly #env: AuthControlEnv;
  #section: ApiKeySectionConfig | null = null;
  #store: KeyStore | null = null;
  /** What the store is (file path, or Redis URL and prefix): a reload that changes it opens the new one. */
  #storeId = '';
  #secret: KeyObject | null = null;
  /** Admin changes, one at a time (a file write finishes before the next change is applied). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(env: AuthControlEnv) {
    this.#env = env;
    const control = this;
    if (env.registry !== null) {
      const gauge = (name: string, help: string, read: (s: KeyStore) => number) =>
        new Gauge({
          name,
          help,
          registers: [env.registry!],
          collect() {
            const s = control.#store;
            if (s !== null) this.set(read(s));
          },
        });
      gauge('wicket_auth_api_key_consumers', 'API-key consumers in the store', (s) => s.state.consumers.size);
      gauge('wicket_auth_api_keys', 'API keys in the store (rotated keys in their grace period included)', (s) => s.state.keys.size);
    }
  }

  configure(section: unknown, configDir: string): void {
    if (section === undefined) {
      this.#section = null;
      this.#secret = null;
      this.#switch(null, '');
      return;
    }
    const s = section as ApiKeySectionConfig;
    this.#section = s;
    const secret = readSecret(s);
    // The load-time check refuses a config without it: this is only a later change of the environment.
    if (typeof secret === 'string') this.#env.log.error({ at: 'auth.apiKey.hashSecretEnv' }, secret);
    this.#secret = typeof secret === 'string' ? null : secret;
    const id = s.file !== undefined ? `file:${resolve(configDir, s.file)}` : `redis:${s.redis!.url}\n${s.redis!.keyPrefix ?? DEFAULT_REDIS_PREFIX}`;
    if (id !== this.#storeId) this.#switch(s, id, configDir);
  }

  #switch(s: ApiKeySectionConfig | null, id: string, configDir = ''): void {
    void this.#store?.close();
    this.#store = null;
    this.#storeId = id;
    if (s === null) return;
    const log = this.#env.log;
    const events: StoreEvents = {
      changed: (c) => store === this.#store && this.#env.broadcast(toWorker(c)),
      reloaded: () => store === this.#store && this.#env.broadcast(store.state.all()),
    };
    let store: KeyStore;
    try {
      store =
        s.file !== undefined
          ? new FileStore(resolve(configDir, s.file), events, log)
          : new RedisStore({ url: s.redis!.url, keyPrefix: s.redis!.keyPrefix ?? DEFAULT_REDIS_PREFIX }, events, log);
    } catch (err) {
      // Checked at load too; the file went bad since. Workers answer 503 until a reload fixes it.
      log.error({ at: 'auth.apiKey.file', err: (err as Error).message }, 'API-key store not opened');
      return;
    }
    this.#store = store;
    if (store.ready) this.#env.broadcast(store.state.all());
  }

  fromWorker(data: unknown): void {
    const m = data as { t?: unknown; used?: unknown } | null;
    const store = this.#store;
    if (store === null || m?.t !== 'used' || !Array.isArray(m.used)) return;
    const u = m.used;
    for (let i = 0; i + 1 < u.length; i += 2) if (typeof u[i] === 'string' && typeof u[i + 1] === 'number') store.used(u[i] as string, u[i + 1] as number);
  }

  snapshot(): unknown[] {
    return this.#store?.ready ? [this.#store.state.all()] : [];
  }

  admin(call: AuthAdminCall): Promise<AuthAdminAnswer | null> {
    if (this.#section === null) return Promise.resolve(null);
    const store = this.#store;
    return apiKeyAdmin(call, {
      store,
      secret: this.#secret,
      prefix: this.#section.prefix ?? DEFAULT_PREFIX,
      graceSeconds: this.#section.graceSeconds ?? DEFAULT_GRACE_SECONDS,
      commit: (i: Intent) => {
        const run = this.#queue.then(() => store!.commit(i));
        this.#queue = run.catch(() => undefined);
        return run as Promise<Change | Refusal>;
      },
    });
  }

  close(): void {
    this.#switch(null, '');
  }
}
