// CORS on any route (https://fetch.spec.whatwg.org/#http-cors-protocol):
// preflights (OPTIONS + Origin + Access-Control-Request-Method) are answered
// here and never reach the upstream; actual responses to allowed origins get
// Access-Control-Allow-Origin and friends; the route's own CORS answer
// replaces any the upstream sent. A gRPC-Web route's `grpcWeb.corsOrigins`
// compiles to this filter too.
import { Slot, type RequestContext } from '../../pipeline/context.js';
import type { Decision, FilterModule, ResponseHead } from '../../pipeline/filter.js';
import type { CorsConfig } from './schema.js';

interface Compiled {
  readonly anyOrigin: boolean;
  readonly origins: ReadonlySet<string>;
  readonly methods: ReadonlySet<string>;
  readonly methodList: string;
  /** null: any header a preflight asks for. */
  readonly headers: ReadonlySet<string> | null;
  readonly defaultHeaders: string;
  readonly expose: readonly string[];
  readonly exposeAll: boolean;
  readonly credentials: boolean;
  readonly maxAge: string;
}

/** The allowed origin of an actual request, for its response. */
const ORIGIN = new Slot<string>();

const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export function compileCors(c: CorsConfig, defaultHeaders = ''): Compiled {
  const methods = (c.allowMethods ?? DEFAULT_METHODS).map((m) => m.toUpperCase());
  return {
    anyOrigin: c.allowOrigins.includes('*'),
    origins: new Set(c.allowOrigins.map((o) => o.toLowerCase())),
    methods: new Set(methods),
    methodList: methods.join(', '),
    headers: c.allowHeaders === undefined ? null : new Set(c.allowHeaders.map((h) => h.toLowerCase())),
    defaultHeaders,
    expose: (c.exposeHeaders ?? []).map((h) => h.toLowerCase()),
    exposeAll: c.exposeResponseHeaders ?? false,
    credentials: c.allowCredentials ?? false,
    maxAge: String(c.maxAgeSeconds ?? 600),
  };
}

function allowed(c: Compiled, origin: string): boolean {
  return c.anyOrigin || c.origins.has(origin.toLowerCase());
}

/** The value of Access-Control-Allow-Origin for an allowed origin. */
function allowOrigin(c: Compiled, origin: string): string {
  return c.anyOrigin && !c.credentials ? '*' : origin;
}

function preflight(c: Compiled, ctx: RequestContext, origin: string, method: string): Decision {
  if (!allowed(c, origin) || !c.methods.has(method.toUpperCase())) return { error: 'WICKET_ERR_CORS_REJECTED' };
  const asked = ctx.header('access-control-request-headers');
  let allowHeaders = c.defaultHeaders;
  if (asked !== undefined && asked.trim() !== '') {
    if (c.headers !== null) {
      for (const h of asked.split(',')) if (!c.headers.has(h.trim().toLowerCase())) return { error: 'WICKET_ERR_CORS_REJECTED' };
    }
    allowHeaders = asked;
  }
  const h = [
    'access-control-allow-origin', allowOrigin(c, origin),
    'access-control-allow-methods', c.methodList,
    'access-control-max-age', c.maxAge,
    'vary', 'origin, access-control-request-method, access-control-request-headers',
  ];
  if (allowHeaders !== '') h.push('access-control-allow-headers', allowHeaders);
  if (c.credentials) h.push('access-control-allow-credentials', 'true');
  return { status: 204, headers: h, body: '' };
}

function respond(c: Compiled, ctx: RequestContext, head: ResponseHead): void {
  const h = head.headers;
  // The route's CORS answer is the gateway's: drop what the upstream said.
  let vary = '';
  for (let i = h.length - 2; i >= 0; i -= 2) {
    const k = h[i]!;
    if (k.startsWith('access-control-')) h.splice(i, 2);
    else if (k === 'vary') {
      vary = vary === '' ? h[i + 1]! : `${h[i + 1]!}, ${vary}`;
      h.splice(i, 2);
    }
  }
  if (!c.anyOrigin || c.credentials) vary = vary === '' ? 'origin' : /(^|,)\s*origin\s*(,|$)/i.test(vary) ? vary : `${vary}, origin`;
  const origin = ctx.get(ORIGIN);
  if (origin !== undefined) {
    h.push('access-control-allow-origin', allowOrigin(c, origin));
    if (c.credentials) h.push('access-control-allow-credentials', 'true');
    let expose = c.expose;
    if (c.exposeAll) {
      const names = new Set(expose);
      for (let i = 0; i < h.length; i += 2) if (!h[i]!.startsWith('access-control-')) names.add(h[i]!);
      expose = [...names];
    }
    if (expose.length > 0) h.push('access-control-expose-headers', expose.join(', '));
  }
  if (vary !== '') h.push('vary', vary);
}

export const corsFilter: FilterModule = {
  key: 'cors',
  order: 100,
  compile(route) {
    let cfg = route.config.cors as CorsConfig | undefined;
    let defaults = '';
    const gw = route.config.grpcWeb as { corsOrigins: string[] } | undefined;
    if (cfg === undefined && gw !== undefined && gw.corsOrigins.length > 0) {
      // gRPC-Web from browsers: POST only; status, message and every metadata header readable.
      cfg = { allowOrigins: gw.corsOrigins, allowMethods: ['POST'], exposeHeaders: ['grpc-status', 'grpc-message', 'grpc-status-details-bin'], exposeResponseHeaders: true, maxAgeSeconds: 86400 };
      defaults = 'content-type, x-grpc-web, x-user-agent, grpc-timeout';
    }
    if (cfg === undefined) return null;
    const c = compileCors(cfg, defaults);
    return {
      name: 'cors',
      onRequest(ctx) {
        const origin = ctx.header('origin');
        if (origin === undefined) return undefined;
        const method = ctx.method === 'OPTIONS' ? ctx.header('access-control-request-method') : undefined;
        if (method !== undefined) return preflight(c, ctx, origin, method);
        if (allowed(c, origin)) ctx.set(ORIGIN, origin);
        return undefined;
      },
      onResponseHeaders(ctx, head) {
        // A preflight answer already carries its headers.
        if (ctx.method === 'OPTIONS' && ctx.header('access-control-request-method') !== undefined) return;
        respond(c, ctx, head);
      },
    };
  },
};
