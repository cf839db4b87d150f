// Checks the schema cannot express: references, uniqueness, regexes, paths, URLs, hosts.
// Runs on the raw data even when the schema check failed (so one run reports everything),
// hence every access is guarded.
import type { Issue } from './errors.js';
import { accessSync, constants } from 'node:fs';
import { DEFAULTS } from './schema.js';
import { compilePath } from '../routing/path-pattern.js';
import { FILTER_CHECKS } from '../filters/schemas.js';
import { cidrError } from '../features/rate-limit/client-ip.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const entries = (v: unknown): [string, unknown][] => (isObj(v) ? Object.entries(v) : []);

const PARAM = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function checkSemantics(root: unknown, configDir = '.'): Issue[] {
  if (!isObj(root)) return [];
  const issues: Issue[] = [];
  const upstreams = isObj(root.upstreams) ? root.upstreams : {};
  for (const [name, up] of Object.entries(upstreams)) checkUpstream(name, up, issues);
  checkCapacity(root, upstreams, issues);
  checkListeners(root.listen, root.admin, issues);
  checkSupervisor(root.supervisor, issues);
  const rl = isObj(root.rateLimit) ? root.rateLimit : {};
  if (Array.isArray(rl.trustedProxies)) {
    rl.trustedProxies.forEach((a, i) => {
      const e = typeof a === 'string' ? cidrError(a) : undefined;
      if (e) issues.push({ at: ['rateLimit', 'trustedProxies', i], message: e });
    });
  }
  checkPubSub(root.pubsub, issues);
  if (Array.isArray(root.routes)) {
    const names = new Map<string, number>();
    root.routes.forEach((route, i) => {
      checkRoute(route, i, upstreams, names, issues, root.limits);
      if (isObj(route) && isObj(route.rateLimit)) checkRateLimit(route.rateLimit, ['routes', i, 'rateLimit'], isObj(rl.redis), issues);
    });
  }
  for (const check of FILTER_CHECKS) issues.push(...check(root, configDir));
  return issues;
}

export function regexError(source: string): string | undefined {
  try {
    new RegExp(source);
    return undefined;
  } catch (e) {
    return `invalid regex: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
}

/** Problems with a route path pattern: `*` only as the final `/*`, `:params` are unique identifiers. */
export function pathErrors(path: string): string[] {
  const out: string[] = [];
  const segs = path.split('/').slice(1);
  const params = new Set<string>();
  segs.forEach((seg, i) => {
    if (seg.includes('*') && !(seg === '*' && i === segs.length - 1)) {
      out.push('"*" is only allowed as a final "/*" segment');
    }
    if (seg.startsWith(':')) {
      const name = seg.slice(1);
      if (!PARAM.test(name)) out.push(`invalid parameter ":${name}" (must be an identifier)`);
      else if (params.has(name)) out.push(`duplicate parameter ":${name}"`);
      params.add(name);
    }
  });
  return [...new Set(out)];
}

/** The target's origin (what the resolved config keeps), or why the URL is not a usable target. */
export function parseTargetUrl(url: string): { origin: string } | { error: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { error: `invalid URL "${url}"` };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { error: 'must use http: or https:' };
  if (u.username !== '' || u.password !== '') return { error: 'must not contain credentials' };
  if (u.pathname !== '/') return { error: `must not have a path ("${u.pathname}"); use rewrite.addPrefix` };
  if (u.search !== '' || u.hash !== '' || url.includes('?') || url.includes('#')) {
    return { error: 'must not have a query or fragment' };
  }
  return { origin: u.origin };
}

/** Host names or `*.suffix`, compared lower-case; no ports. */
export function hostError(host: string): string | undefined {
  const h = host.toLowerCase();
  const name = h.startsWith('*.') ? h.slice(2) : h;
  const ok = name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
  return ok ? undefined : `invalid host "${host}": must be a host name or "*.suffix" (no port)`;
}

function checkUpstream(name: string, up: unknown, issues: Issue[]): void {
  if (!isObj(up)) return;
  checkPolicies(name, up, issues);
  if (!Array.isArray(up.targets)) return;
  const at = ['upstreams', name, 'targets'];
  const seen = new Map<string, number>();
  up.targets.forEach((t: unknown, i) => {
    if (!isObj(t) || typeof t.url !== 'string') return;
    const r = parseTargetUrl(t.url);
    if ('error' in r) {
      issues.push({ at: [...at, i, 'url'], message: r.error });
    } else if (seen.has(r.origin)) {
      issues.push({ at: [...at, i, 'url'], message: `duplicate target ${r.origin} (also targets[${seen.get(r.origin)}])` });
    } else {
      seen.set(r.origin, i);
    }
  });
}

function checkPolicies(name: string, up: Obj, issues: Issue[]): void {
  const at = ['upstreams', name];
  if (typeof up.hashOn === 'string' && up.balancer !== 'consistent-hash') {
    issues.push({ at: [...at, 'hashOn'], message: 'hashOn applies only to balancer consistent-hash' });
  }
  const hc = up.healthCheck;
  if (isObj(hc)) {
    const interval = typeof hc.intervalMs === 'number' ? hc.intervalMs : DEFAULTS.health.intervalMs;
    if (typeof hc.timeoutMs === 'number' && hc.timeoutMs > interval) {
      issues.push({ at: [...at, 'healthCheck', 'timeoutMs'], message: `must not exceed intervalMs (${interval})` });
    }
    if (hc.type === 'tcp' && (hc.path !== undefined || hc.expectStatus !== undefined || hc.host !== undefined)) {
      issues.push({ at: [...at, 'healthCheck', 'type'], message: 'tcp checks take no path, host or expectStatus' });
    }
  }
  const od = up.outlierDetection;
  if (isObj(od)) {
    const base = typeof od.baseEjectionMs === 'number' ? od.baseEjectionMs : DEFAULTS.outlier.baseEjectionMs;
    if (typeof od.maxEjectionMs === 'number' && od.maxEjectionMs < base) {
      issues.push({ at: [...at, 'outlierDetection', 'maxEjectionMs'], message: `must be at least baseEjectionMs (${base})` });
    }
  }
  const cb = up.circuitBreaker;
  if (isObj(cb) && cb.failureRatio === 0 && (cb.consecutiveFailures ?? 0) === 0) {
    issues.push({ at: [...at, 'circuitBreaker'], message: 'failureRatio and consecutiveFailures are both 0: the circuit could never open' });
  }
}

/** The shared-memory segment has fixed room for targets and upstreams. */
function checkCapacity(root: Obj, upstreams: Obj, issues: Issue[]): void {
  const st = isObj(root.state) ? root.state : {};
  const maxTargets = typeof st.targets === 'number' ? st.targets : DEFAULTS.stateTargets;
  const maxUpstreams = typeof st.upstreams === 'number' ? st.upstreams : DEFAULTS.stateUpstreams;
  let targets = 0;
  for (const up of Object.values(upstreams)) if (isObj(up) && Array.isArray(up.targets)) targets += up.targets.length;
  if (targets > maxTargets) {
    issues.push({ at: ['upstreams'], message: `${targets} targets in all, more than state.targets (${maxTargets})` });
  }
  const n = Object.keys(upstreams).length;
  if (n > maxUpstreams) issues.push({ at: ['upstreams'], message: `${n} upstreams, more than state.upstreams (${maxUpstreams})` });
}

/** Entries one sliding-log key may hold in Redis (about 10 bytes each). */
const SLIDING_LOG_MAX = 100_000;

function checkRateLimit(rl: Obj, at: (string | number)[], haveRedis: boolean, issues: Issue[]): void {
  if (!Array.isArray(rl.limits)) return;
  const names = new Map<string, number>();
  rl.limits.forEach((l: unknown, i) => {
    if (!isObj(l)) return;
    const here = [...at, 'limits', i];
    const name = typeof l.name === 'string' ? l.name : `l${i}`;
    if (names.has(name)) issues.push({ at: [...here, 'name'], message: `duplicate limit name "${name}" (also limits[${names.get(name)}])` });
    else names.set(name, i);
    if (l.burst !== undefined && l.algorithm !== undefined && l.algorithm !== 'gcra') issues.push({ at: [...here, 'burst'], message: 'burst applies only to algorithm gcra' });
    if (l.tier === 'global' && !haveRedis) issues.push({ at: [...here, 'tier'], message: 'tier global needs rateLimit.redis' });
    if (l.algorithm === 'sliding-log') {
      // One timestamp per unit does not fit a shared-memory cell; in Redis it is a list of up to `limit` entries per key.
      if (l.tier !== 'global') issues.push({ at: [...here, 'algorithm'], message: 'sliding-log keeps a timestamp per request and needs tier: global (Redis); use sliding-window for a local limit' });
      if (typeof l.limit === 'number' && l.limit > SLIDING_LOG_MAX) issues.push({ at: [...here, 'limit'], message: `sliding-log stores one entry per unit: limit must be at most ${SLIDING_LOG_MAX} (use sliding-window above that)` });
    }
    if (l.tier !== 'global' && (l.onRedisFailure !== undefined || l.localShare !== undefined)) {
      issues.push({ at: [...here, l.onRedisFailure !== undefined ? 'onRedisFailure' : 'localShare'], message: 'applies only to tier global' });
    }
    if (typeof l.costHeader === 'string' && l.cost !== undefined) issues.push({ at: [...here, 'cost'], message: 'give cost or costHeader, not both' });
    // A request costing more than one go can ever admit would be refused forever.
    // (maxCost in src/features/rate-limit/algorithms.ts, on the raw config: burst defaults to limit)
    const gcra = l.algorithm === undefined || l.algorithm === 'gcra';
    const most = gcra && typeof l.burst === 'number' ? l.burst : l.limit;
    if (typeof l.cost === 'number' && typeof most === 'number' && l.cost > most) {
      issues.push({ at: [...here, 'cost'], message: `cost ${l.cost} is more than the ${gcra ? 'burst' : 'limit'} (${most}): no request could ever pass` });
    }
    const ex = isObj(l.exempt) ? l.exempt : {};
    if (Array.isArray(ex.ips)) {
      ex.ips.forEach((a, j) => {
        const e = typeof a === 'string' ? cidrError(a) : undefined;
        if (e) issues.push({ at: [...here, 'exempt', 'ips', j], message: e });
      });
    }
    checkHeaderNames(ex.headers, [...here, 'exempt', 'headers'], issues);
  });
}

function checkHeaderNames(headers: unknown, at: (string | number)[], issues: Issue[]): void {
  for (const [k] of entries(headers)) if (!HEADER_NAME.test(k)) issues.push({ at: [...at, k], message: `"${k}" is not a valid header name` });
}

/**
 * The HTTP/1.1, h2c, TLS and admin listeners each need their own port, and a
 * real one: with port 0 every worker would bind its own random port (and
 * the admin port would be unknown).
 */
function checkListeners(listen: unknown, admin: unknown, issues: Issue[]): void {
  if (!isObj(listen)) return;
  const seen = new Map<number, string>();
  const claim = (at: (string | number)[], what: string, port: unknown): void => {
    if (typeof port !== 'number') return;
    if (port === 0) return void issues.push({ at, message: 'port 0 is not allowed: every worker would listen on a random port of its own' });
    const other = seen.get(port);
    if (other !== undefined) issues.push({ at, message: `port ${port} is already ${other}'s` });
    else seen.set(port, what);
  };
  for (const name of ['http', 'h2c', 'https']) {
    const l = listen[name];
    if (isObj(l)) claim(['listen', name, 'port'], `listen.${name}`, l.port);
  }
  // The admin listener (default port 9901) is the supervisor's.
  if (isObj(admin) && admin.port !== undefined) claim(['admin', 'port'], 'admin', admin.port);
  else if (admin === undefined || isObj(admin)) claim(['admin'], 'admin', DEFAULTS.adminPort);
  // A missing certificate or key would only show when the workers start: refuse the config instead.
  const tls = listen.https;
  if (isObj(tls)) {
    for (const k of ['cert', 'key']) {
      const f = tls[k];
      if (typeof f !== 'string') continue;
      try {
        accessSync(f, constants.R_OK);
      } catch {
        issues.push({ at: ['listen', 'https', k], message: `cannot read ${f}` });
      }
    }
  }
}

function checkSupervisor(sup: unknown, issues: Issue[]): void {
  if (!isObj(sup)) return;
  const first = typeof sup.restartBackoffMs === 'number' ? sup.restartBackoffMs : DEFAULTS.restartBackoffMs;
  if (typeof sup.restartBackoffMaxMs === 'number' && sup.restartBackoffMaxMs < first) {
    issues.push({ at: ['supervisor', 'restartBackoffMaxMs'], message: `must be >= restartBackoffMs (${first})` });
  }
}

function checkRegex(v: unknown, at: (string | number)[], issues: Issue[]): void {
  const err = typeof v === 'string' ? regexError(v) : undefined;
  if (err) issues.push({ at, message: err });
}

function checkRoute(route: unknown, i: number, upstreams: Obj, names: Map<string, number>, issues: Issue[], limitsOf: unknown): void {
  if (!isObj(route)) return;
  const at = ['routes', i];
  if (typeof route.name === 'string') {
    const first = names.get(route.name);
    if (first !== undefined) {
      issues.push({ at: [...at, 'name'], message: `duplicate route name "${route.name}" (also routes[${first}])` });
    } else {
      names.set(route.name, i);
    }
  }

  // A route path no request path can have is refused here, with its line, not when workers compile it.
  const m = route.match;
  if (isObj(m) && typeof m.path === 'string') {
    const slashes = isObj(limitsOf) && (limitsOf.encodedSlashes === 'decode' || limitsOf.encodedSlashes === 'reject') ? limitsOf.encodedSlashes : 'keep';
    try {
      compilePath(m.path, undefined, slashes);
    } catch (err) {
      issues.push({ at: [...at, 'match', 'path'], message: (err as Error).message });
    }
  }
  const proxied = route.upstream !== undefined;
  const responds = route.respond !== undefined;
  const pubsub = route.pubsub !== undefined;
  const kinds = Number(proxied) + Number(responds) + Number(pubsub);
  if (kinds > 1) issues.push({ at, message: 'must have exactly one of "upstream", "respond" or "pubsub"' });
  if (kinds === 0) issues.push({ at, message: 'must have "upstream", "respond" or "pubsub"' });
  if (pubsub) checkPubSubRoute(route, at, issues, limitsOf);
  if (typeof route.upstream === 'string' && !Object.hasOwn(upstreams, route.upstream)) {
    issues.push({ at: [...at, 'upstream'], message: `unknown upstream "${route.upstream}"` });
  }
  if (responds && route.retry !== undefined) issues.push({ at: [...at, 'retry'], message: 'retry applies only to proxied routes' });
  if (responds && route.websocket !== undefined) issues.push({ at: [...at, 'websocket'], message: 'websocket applies only to proxied routes' });
  if (route.grpcWeb !== undefined && typeof route.upstream === 'string') {
    const up = upstreams[route.upstream];
    if (isObj(up) && up.protocol !== 'h2') issues.push({ at: [...at, 'grpcWeb'], message: `grpcWeb needs an upstream with protocol h2 ("${route.upstream}" is http1)` });
  }
  if (responds && route.grpcWeb !== undefined) issues.push({ at: [...at, 'grpcWeb'], message: 'grpcWeb applies only to proxied routes' });
  if (isObj(route.websocket) && typeof route.websocket.maxMessageBytes === 'number') {
    const cap = isObj(limitsOf) && typeof limitsOf.maxWebSocketMessageBytes === 'number' ? limitsOf.maxWebSocketMessageBytes : DEFAULTS.maxWebSocketMessageBytes;
    if (route.websocket.maxMessageBytes > cap) issues.push({ at: [...at, 'websocket', 'maxMessageBytes'], message: `must not exceed limits.maxWebSocketMessageBytes (${cap})` });
  }
  if (responds && !proxied) {
    for (const key of ['rewrite', 'preserveHost', 'timeoutMs']) {
      if (route[key] !== undefined) {
        issues.push({ at: [...at, key], atKey: true, message: 'only applies to routes with "upstream"' });
      }
    }
  }

  if (isObj(route.match)) checkMatch(route.match, [...at, 'match'], issues);

  if (isObj(route.rewrite)) {
    checkRegex(route.rewrite.regex, [...at, 'rewrite', 'regex'], issues);
    if (route.rewrite.replacement !== undefined && route.rewrite.regex === undefined) {
      issues.push({ at: [...at, 'rewrite', 'replacement'], atKey: true, message: 'only allowed with "regex"' });
    }
  }

  if (isObj(route.respond)) checkHeaderValues(route.respond.headers, [...at, 'respond', 'headers'], issues);
}

/** The URL of a broker: scheme of its type, a host, no secrets in the message (only the scheme is quoted). */
export function brokerUrlError(type: unknown, url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'invalid URL';
  }
  const schemes = type === 'nats' ? ['nats:'] : ['redis:', 'rediss:'];
  if (!schemes.includes(u.protocol)) return `a ${String(type)} broker URL must use ${schemes.map((x) => `${x}//`).join(' or ')} (got ${u.protocol}//)`;
  if (u.hostname === '') return 'must name a host';
  if (type === 'nats' && u.pathname !== '' && u.pathname !== '/') return 'a nats URL has no path';
  if (type === 'redis' && u.pathname !== '' && u.pathname !== '/' && !/^\/\d{1,2}$/.test(u.pathname)) return 'a redis URL path is a database number (/0../15)';
  if (u.search !== '' || u.hash !== '') return 'must not have a query or fragment';
  return undefined;
}

function checkPubSub(ps: unknown, issues: Issue[]): void {
  if (!isObj(ps) || !isObj(ps.broker)) return;
  const b = ps.broker;
  const at = ['pubsub', 'broker'];
  if (typeof b.url === 'string' && (b.type === 'redis' || b.type === 'nats')) {
    const e = brokerUrlError(b.type, b.url);
    if (e) issues.push({ at: [...at, 'url'], message: e });
  }
  if (b.type === 'nats' && typeof b.channelPrefix === 'string' && b.channelPrefix !== '' && !b.channelPrefix.endsWith('.')) {
    issues.push({ at: [...at, 'channelPrefix'], message: 'a NATS subject prefix must end with "." (subjects are dot-separated tokens)' });
  }
}

function checkPubSubRoute(route: Obj, at: (string | number)[], issues: Issue[], limitsOf: unknown): void {
  for (const key of ['websocket', 'rewrite', 'preserveHost', 'timeoutMs', 'retry', 'maxBodyBytes']) {
    if (route[key] !== undefined) issues.push({ at: [...at, key], atKey: true, message: 'does not apply to a pubsub route (it has no upstream)' });
  }
  const ps = route.pubsub;
  if (!isObj(ps)) return;
  if (ps.topics === undefined && ps.clientSubscribe !== true) {
    issues.push({ at: [...at, 'pubsub'], message: 'needs "topics" (param:NAME or query:NAME) or clientSubscribe: true, else a subscriber could never get a topic' });
  }
  if (typeof ps.topics === 'string' && ps.topics.startsWith('param:')) {
    const name = ps.topics.slice(6);
    const path = isObj(route.match) ? route.match.path : undefined;
    if (typeof path !== 'string' || !path.split('/').includes(`:${name}`)) {
      issues.push({ at: [...at, 'pubsub', 'topics'], message: `match.path has no parameter ":${name}"` });
    }
  }
  if (typeof ps.maxMessageBytes === 'number') {
    const cap = isObj(limitsOf) && typeof limitsOf.maxWebSocketMessageBytes === 'number' ? limitsOf.maxWebSocketMessageBytes : DEFAULTS.maxWebSocketMessageBytes;
    if (ps.maxMessageBytes > cap) issues.push({ at: [...at, 'pubsub', 'maxMessageBytes'], message: `must not exceed limits.maxWebSocketMessageBytes (${cap})` });
  }
}

function checkMatch(match: Obj, at: (string | number)[], issues: Issue[]): void {
  if (match.path === undefined && match.pathRegex === undefined) {
    issues.push({ at, message: 'must have "path" or "pathRegex"' });
  }
  if (typeof match.path === 'string' && match.path.startsWith('/')) {
    for (const message of pathErrors(match.path)) issues.push({ at: [...at, 'path'], message });
  }
  checkRegex(match.pathRegex, [...at, 'pathRegex'], issues);

  const hosts: [string, number | undefined][] = typeof match.host === 'string' ? [[match.host, undefined]] : [];
  if (Array.isArray(match.host)) match.host.forEach((h: unknown, k) => typeof h === 'string' && hosts.push([h, k]));
  for (const [h, k] of hosts) {
    const message = hostError(h);
    if (message) issues.push({ at: k === undefined ? [...at, 'host'] : [...at, 'host', k], message });
  }

  // Header names are case-insensitive: they must be tokens and unique once lower-cased.
  const seen = new Set<string>();
  for (const [name, m] of entries(match.headers)) {
    const key = [...at, 'headers', name];
    if (!HEADER_NAME.test(name)) issues.push({ at: key, atKey: true, message: `invalid header name "${name}"` });
    else if (seen.has(name.toLowerCase())) issues.push({ at: key, atKey: true, message: `duplicate header "${name.toLowerCase()}"` });
    seen.add(name.toLowerCase());
    if (isObj(m)) checkRegex(m.regex, [...key, 'regex'], issues);
  }
  for (const [name, m] of entries(match.query)) {
    const key = [...at, 'query', name];
    if (name === '') issues.push({ at: key, atKey: true, message: 'query parameter name must not be empty' });
    if (isObj(m)) checkRegex(m.regex, [...key, 'regex'], issues);
  }
}

function checkHeaderValues(headers: unknown, at: (string | number)[], issues: Issue[]): void {
  for (const [name, value] of entries(headers)) {
    if (!HEADER_NAME.test(name)) issues.push({ at: [...at, name], atKey: true, message: `invalid header name "${name}"` });
    // CR/LF in a value would split the response head.
    if (typeof value === 'string' && /[\r\n\0]/.test(value)) {
      issues.push({ at: [...at, name], message: 'header value must not contain CR, LF or NUL' });
    }
  }
}
