// The jwt method's worker-wide service, rebuilt per config version: its
// providers, the JWKS copies the supervisor sends, the revocation list and
// the verified-token caches. What can outlive a config version does: key
// sets (same provider, same URL), revocations, and a provider's cache when
// its settings did not change.
import { isDeepStrictEqual } from 'node:util';
import type { AuthIo } from '../services.js';
import { TokenCache } from './cache.js';
import { localKey } from './keys.js';
import type { ToSupervisor, ToWorker } from './messages.js';
import { Provider } from './provider.js';
import { RemoteKeys } from './remote-keys.js';
import { Revocations } from './revocations.js';
import type { JwtSectionConfig, ProviderConfig } from './schema.js';

const remoteKey = (provider: string, url: string): string => `${provider}\n${url}`;

export class JwtService {
  readonly providers = new Map<string, Provider>();
  readonly revoked: Revocations;
  /** Key sets by provider + URL, kept across config versions. */
  readonly remotes: Map<string, RemoteKeys>;
  readonly #caches = new Map<string, { cfg: ProviderConfig; cache: TokenCache }>();
  readonly #prune: NodeJS.Timeout;

  constructor(section: JwtSectionConfig, previous: JwtService | undefined, io: AuthIo) {
    this.revoked = previous?.revoked ?? new Revocations();
    this.remotes = previous?.remotes ?? new Map();
    const send = (m: ToSupervisor): void => io.send(m);
    for (const [name, cfg] of Object.entries(section.providers)) {
      // load-time checks (check.ts) refused bad keys already: a throw here is a file changed since.
      const local = (cfg.keys ?? []).map((k, i) => {
        try {
          return localKey(k, io.configDir, process.env, cfg.algorithms);
        } catch (err) {
          throw new Error(`auth.jwt.providers.${name}.keys[${i}]: ${(err as Error).message}`);
        }
      });
      let remote: RemoteKeys | null = null;
      if (cfg.jwksUrl !== undefined) {
        const key = remoteKey(name, cfg.jwksUrl);
        remote = this.remotes.get(key) ?? new RemoteKeys(name, cfg.jwksUrl, send);
        remote.configure((cfg.cooldownSeconds ?? 30) * 1000, (cfg.fetchTimeoutMs ?? 5000) + 1000, cfg.algorithms);
        this.remotes.set(key, remote);
      }
      const prev = previous === undefined ? undefined : previous.#caches.get(name);
      const cache = prev !== undefined && isDeepStrictEqual(prev.cfg, cfg) ? prev.cache : new TokenCache(cfg.cacheEntries ?? 10_000);
      this.#caches.set(name, { cfg, cache });
      this.providers.set(name, new Provider(name, cfg, local, remote, this.revoked, cache));
    }
    // Sets of providers no longer configured (or whose URL changed) go.
    for (const [key, r] of this.remotes) {
      const [name, url] = key.split('\n');
      if (section.providers[name!]?.jwksUrl !== url) {
        r.close();
        this.remotes.delete(key);
      }
    }
    this.#prune = setInterval(() => this.revoked.prune(Date.now()), 60_000);
    this.#prune.unref();
    io.onMessage((data) => this.received(data as ToWorker));
  }

  received(m: ToWorker): void {
    switch (m.t) {
      case 'keys': {
        const key = remoteKey(m.provider, m.url);
        const r = this.remotes.get(key);
        // A set for a provider this version does not have (a reload on its way): ignored; the worker asks when it needs it.
        r?.received(m.keys, m.answer === true);
        return;
      }
      case 'revocations':
        return this.revoked.replace(m.entries);
      case 'revoke':
        return this.revoked.add(m.jti, m.until);
      case 'unrevoke':
        this.revoked.delete(m.jti);
        return;
    }
  }

  close(): void {
    clearInterval(this.#prune);
  }
}
