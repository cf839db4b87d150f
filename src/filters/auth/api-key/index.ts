// The apiKey auth method: keys the gateway issues (admin API, control.ts),
// read from a header (x-api-key) or, when the route says so, a query
// parameter, and checked against the worker's table (table.ts). No
// WWW-Authenticate scheme is standard for API keys, so a 401 from this
// method carries no challenge. docs/ARCHITECTURE.md "Identity".
import type { RequestContext } from '../../../pipeline/context.js';
import { withoutQueryParam, type AuthResult, type Authenticator, type AuthServices } from '../authenticator.js';
import type { AuthMethod } from '../methods.js';
import type { AuthIo } from '../services.js';
import { DEFAULT_REPORT_SECONDS, readSecret } from './keys.js';
import type { ToWorker } from './records.js';
import type { ApiKeyRouteConfig, ApiKeySectionConfig } from './schema.js';
import { KeyTable } from './table.js';

export const API_KEY = 'apiKey';

/** The worker-wide part: the table, and the timer that reports key use to the supervisor. */
export class ApiKeyService {
  readonly table: KeyTable;
  #timer: NodeJS.Timeout | null = null;
  #every = 0;
  #io: AuthIo;

  constructor(table: KeyTable, io: AuthIo) {
    this.table = table;
    this.#io = io;
  }

  configure(section: ApiKeySectionConfig, io: AuthIo): void {
    this.#io = io;
    io.onMessage((data) => this.table.receive(data as ToWorker));
    const every = (section.lastUsedReportSeconds ?? DEFAULT_REPORT_SECONDS) * 1000;
    if (every === this.#every) return;
    this.#every = every;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = setInterval(() => this.report(), every);
    this.#timer.unref();
  }

  report(): void {
    const used = this.table.takeUsed();
    if (used.length > 0) this.#io.send({ t: 'used', used });
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.report();
  }
}

function service(section: unknown, previous: unknown, io: AuthIo): ApiKeyService {
  const s = section as ApiKeySectionConfig;
  const secret = readSecret(s);
  // Refused at load (check.ts) when missing; a worker's environment is its supervisor's.
  if (typeof secret === 'string') throw new Error(`auth.apiKey.hashSecretEnv: ${secret}`);
  // The table survives reloads: the supervisor sends only changes.
  const svc = previous instanceof ApiKeyService ? previous : new ApiKeyService(new KeyTable(secret), io);
  svc.table.secret = secret;
  svc.configure(s, io);
  return svc;
}

class ApiKeyAuthenticator implements Authenticator {
  readonly kind = 'api-key';
  readonly #table: KeyTable;
  readonly #header: string;
  readonly #query: string | null;
  readonly #hide: boolean;

  constructor(cfg: ApiKeyRouteConfig, table: KeyTable) {
    this.#table = table;
    this.#header = cfg.header ?? 'x-api-key';
    this.#query = cfg.query ?? null;
    this.#hide = cfg.hideCredentials ?? true;
  }

  authenticate(ctx: RequestContext): AuthResult {
    const key = ctx.header(this.#header) ?? (this.#query === null ? undefined : ctx.queryParam(this.#query));
    if (key === undefined) return null;
    return this.#table.check(key, Date.now());
  }

  challenge(): null {
    return null;
  }

  strip(ctx: RequestContext): void {
    if (!this.#hide) return;
    const h = ctx.headers;
    for (let i = h.length - 2; i >= 0; i -= 2) if (h[i] === this.#header) h.splice(i, 2);
    if (this.#query !== null) ctx.query = withoutQueryParam(ctx.query, this.#query);
  }
}

export const apiKeyMethod: AuthMethod = {
  key: API_KEY,
  create(settings: unknown, services: AuthServices): Authenticator {
    const svc = services.get<ApiKeyService>(API_KEY);
    if (svc === undefined) throw new Error('needs the top-level auth.apiKey section (the key store)');
    return new ApiKeyAuthenticator(settings as ApiKeyRouteConfig, svc.table);
  },
  service,
  close: (svc) => (svc as ApiKeyService).close(),
};
