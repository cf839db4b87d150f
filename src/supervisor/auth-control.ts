// The supervisor side of auth methods: what must exist once per gateway, not
// once per worker (a JWKS fetched once, the API-key table and its store,
// revocation lists). Each method with such state registers a control here;
// its worker side (src/filters/auth/) talks to it over IPC (`auth` messages)
// and its admin endpoints live under /auth/<method>/.
import type { Registry } from 'prom-client';
import type { Logger } from 'pino';
import { JwtControl } from '../filters/auth/jwt/control.js';
import { ApiKeyControl } from '../filters/auth/api-key/control.js';

export interface AuthControlEnv {
  readonly log: Logger;
  /** The supervisor's /metrics registry. */
  readonly registry: Registry | null;
  /** To every worker's service of this method. */
  broadcast(data: unknown): void;
}

/** An admin call under /auth/<method>/<path>. */
export interface AuthAdminCall {
  readonly method: string;
  /** The HTTP method (GET, POST, DELETE, ...). */
  readonly verb: string;
  /** The rest of the path after /auth/<method> ('' or starting with '/'). */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The JSON body (undefined when none). */
  readonly body: unknown;
}

export interface AuthAdminAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface AuthControl {
  /** Each config version's `auth.<method>` section (undefined: removed). */
  configure(section: unknown, configDir: string): void;
  /** A worker's message; `reply` answers only that worker. */
  fromWorker?(data: unknown, reply: (data: unknown) => void): void;
  /** What a starting worker is sent before its config (key sets, key tables). */
  snapshot?(): unknown[];
  /** null: no such endpoint. */
  admin?(call: AuthAdminCall): Promise<AuthAdminAnswer | null>;
  close(): void;
}

/** Method key -> its control. A method with gateway-wide state adds one line. */
export const AUTH_CONTROLS: Readonly<Record<string, (env: AuthControlEnv) => AuthControl>> = {
  jwt: (env) => new JwtControl(env),
  apiKey: (env) => new ApiKeyControl(env),
};

export class SupervisorAuth {
  readonly #controls = new Map<string, AuthControl>();

  constructor(env: Omit<AuthControlEnv, 'broadcast'>, broadcast: (method: string, data: unknown) => void) {
    for (const [method, make] of Object.entries(AUTH_CONTROLS)) {
      this.#controls.set(method, make({ ...env, broadcast: (data) => broadcast(method, data) }));
    }
  }

  configure(section: Readonly<Record<string, unknown>> | undefined, configDir: string): void {
    for (const [method, c] of this.#controls) c.configure(section?.[method], configDir);
  }

  fromWorker(method: string, data: unknown, reply: (data: unknown) => void): void {
    this.#controls.get(method)?.fromWorker?.(data, reply);
  }

  /** [method, data] pairs a new worker gets before its config. */
  snapshot(): [string, unknown][] {
    const out: [string, unknown][] = [];
    for (const [method, c] of this.#controls) for (const d of c.snapshot?.() ?? []) out.push([method, d]);
    return out;
  }

  async admin(call: AuthAdminCall): Promise<AuthAdminAnswer | null> {
    const c = this.#controls.get(call.method);
    if (c?.admin === undefined) return null;
    return c.admin(call);
  }

  close(): void {
    for (const c of this.#controls.values()) c.close();
  }
}
