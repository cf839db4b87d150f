// The worker's auth services: one per method with a top-level section,
// rebuilt on each config version (a method may keep its previous state), and
// the IPC channel methods use to talk to their supervisor side (key sets
// fetched once per gateway, revocations, key tables).
import type { AuthServices } from './authenticator.js';
import type { AuthSectionConfig } from './schema.js';
import { METHODS } from './methods.js';

/** A method's messages to and from its supervisor side. */
export interface AuthIo {
  /** The config file's folder: relative file paths in auth settings are resolved from it. */
  readonly configDir: string;
  send(data: unknown): void;
  /** The handler for messages the supervisor sends this method (one per method; a later call replaces it). */
  onMessage(handler: (data: unknown) => void): void;
}

export class WorkerAuthServices implements AuthServices {
  readonly #services = new Map<string, unknown>();
  readonly #handlers = new Map<string, (data: unknown) => void>();
  /** Messages that came before their method's service existed (a worker still starting): replayed in order. */
  readonly #early = new Map<string, unknown[]>();
  readonly #send: (method: string, data: unknown) => void;
  section: AuthSectionConfig | undefined = undefined;
  /** A config was applied: a method without a service now has nobody to tell (its messages are dropped). */
  #configured = false;

  constructor(send: (method: string, data: unknown) => void) {
    this.#send = send;
  }

  get<T>(method: string): T | undefined {
    return this.#services.get(method) as T | undefined;
  }

  /** A new config: each method's service from its section (kept, rebuilt, made, or closed). */
  configure(section: AuthSectionConfig | undefined, configDir: string): void {
    this.section = section;
    this.#configured = true;
    for (const m of METHODS) {
      if (m.service === undefined) continue;
      const prev = this.#services.get(m.key);
      const cfg = (section as Record<string, unknown> | undefined)?.[m.key];
      if (cfg === undefined) {
        if (prev !== undefined) {
          m.close?.(prev);
          this.#services.delete(m.key);
          this.#handlers.delete(m.key);
        }
        continue;
      }
      const io: AuthIo = {
        configDir,
        send: (data) => this.#send(m.key, data),
        onMessage: (h) => {
          this.#handlers.set(m.key, h);
          const early = this.#early.get(m.key);
          this.#early.delete(m.key);
          for (const d of early ?? []) h(d);
        },
      };
      const next = m.service(cfg, prev, io);
      if (prev !== undefined && prev !== next) m.close?.(prev);
      this.#services.set(m.key, next);
    }
  }

  /** A message from a method's supervisor side. */
  received(method: string, data: unknown): void {
    const h = this.#handlers.get(method);
    if (h !== undefined) return h(data);
    // Kept only while the first config is on its way (its service will want them); after that, unused.
    if (this.#configured) return;
    const q = this.#early.get(method) ?? [];
    q.push(data);
    this.#early.set(method, q);
  }

  close(): void {
    for (const m of METHODS) {
      const s = this.#services.get(m.key);
      if (s !== undefined) m.close?.(s);
    }
    this.#services.clear();
  }
}
