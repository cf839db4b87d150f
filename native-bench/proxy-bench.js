#!/usr/bin/env node
// Wicket proxy benchmark: Wicket vs nginx vs HAProxy vs fastify/@fastify/http-proxy,
// all in front of the same uWebSockets.js upstream, driven by wrk in interleaved rounds.
//
//   npm run bench                      # = npm run build && node native-bench/proxy-bench.js
//   BENCH_ONLY=nginx,haproxy,fastify BENCH_DURATION=3 BENCH_ROUNDS=1 node native-bench/proxy-bench.js
//   BENCH_BASELINE=/path/to/other/checkout   # also runs that checkout's built Wicket ("baseline")
//   BENCH_BALANCER=least-connections         # Wicket's balancer (default round-robin)
//   BENCH_WORKERS=2                          # Wicket workers (default 1, like nginx's worker_processes)
//   BENCH_LIMITS=1                           # also Wicket with a per-IP local rate limit that never trips
//                                            # ("wicket-limit") and the same on the Redis tier ("wicket-redis",
//                                            # redis://127.0.0.1:6379 or BENCH_REDIS_URL)
//   BENCH_JWT=1                              # also Wicket with an ES256 JWT route ("wicket-jwt": local key,
//                                            # verified-token cache on, one token sent by every request), and
//                                            # plain Wicket sent the same Authorization header ("wicket-bearer":
//                                            # what the header's bytes cost without any auth)
//   BENCH_APIKEY=1                           # also Wicket with the apiKey auth method on the route, wrk
//                                            # sending a key the gateway issued ("wicket-apikey")
//
// See native-bench/README.md for what it measures and how to read it.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const WICKET_CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const RESULTS_DIR = path.join(HERE, 'results');

const BASELINE = process.env.BENCH_BASELINE ? path.resolve(process.env.BENCH_BASELINE) : null;
const BASELINE_CLI = BASELINE && path.join(BASELINE, 'dist', 'src', 'cli.js');
const BALANCER = process.env.BENCH_BALANCER || 'round-robin';
const WICKET_WORKERS = Number(process.env.BENCH_WORKERS || '1');
const LIMITS = process.env.BENCH_LIMITS === '1';
const JWT_ROUTE = process.env.BENCH_JWT === '1';
const APIKEY = process.env.BENCH_APIKEY === '1';
const REDIS_URL = process.env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379';
const ALL_PROXIES = ['wicket', ...(BASELINE ? ['baseline'] : []), ...(LIMITS ? ['wicket-limit', 'wicket-redis'] : []), ...(JWT_ROUTE ? ['wicket-jwt', 'wicket-bearer'] : []), ...(APIKEY ? ['wicket-apikey'] : []), 'nginx', 'haproxy', 'fastify'];
const THREADS = 1;
const CONNECTIONS = 64; // wrk client connections == upstream pool size of every proxy
const BODY_BYTES = 100;
const APT_CMD = 'apt-get install -y nginx-light haproxy wrk';

// ---------------------------------------------------------------- settings

function fail(msg) {
  console.error(`[bench] ERROR: ${msg}`);
  process.exit(1);
}

function parseDuration(name, raw, { allowZero = false } = {}) {
  const m = /^\s*(\d+)\s*(s|m|h)?\s*$/.exec(String(raw));
  if (!m) fail(`${name}=${raw} is not a duration (use e.g. 10, 10s, 1m)`);
  const n = Number(m[1]);
  const unit = m[2] || 's';
  const seconds = n * { s: 1, m: 60, h: 3600 }[unit];
  if (seconds === 0 && !allowZero) fail(`${name} must be > 0`);
  return { arg: `${n}${unit}`, seconds };
}

function parsePositiveInt(name, raw) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) fail(`${name}=${raw} must be a positive integer`);
  return n;
}

const E = process.env;
const settings = {
  duration: parseDuration('BENCH_DURATION', E.BENCH_DURATION ?? '10s'),
  rounds: parsePositiveInt('BENCH_ROUNDS', E.BENCH_ROUNDS ?? '3'),
  warmup: parseDuration('BENCH_WARMUP', E.BENCH_WARMUP ?? '2s', { allowZero: true }),
  cooldownSeconds: Number(E.BENCH_COOLDOWN ?? '1'),
  startTimeoutSeconds: Number(E.BENCH_START_TIMEOUT ?? '30'),
  portBase: parsePositiveInt('BENCH_PORT_BASE', E.BENCH_PORT_BASE ?? '18400'),
  keepTmp: E.BENCH_KEEP_TMP === '1',
  only: null,
};
if (!(settings.cooldownSeconds >= 0)) fail('BENCH_COOLDOWN must be a number of seconds >= 0');
if (!(settings.startTimeoutSeconds > 0)) fail('BENCH_START_TIMEOUT must be a number of seconds > 0');
if (settings.portBase + 17 > 65535) fail('BENCH_PORT_BASE too high');

let selected = ALL_PROXIES;
if (E.BENCH_ONLY && E.BENCH_ONLY.trim() !== '') {
  const wanted = E.BENCH_ONLY.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const unknown = wanted.filter((w) => !ALL_PROXIES.includes(w));
  if (unknown.length) fail(`BENCH_ONLY has unknown name(s): ${unknown.join(', ')} (known: ${ALL_PROXIES.join(', ')})`);
  selected = ALL_PROXIES.filter((p) => wanted.includes(p)); // canonical order
  settings.only = selected;
}
if (selected.length === 0) fail('nothing to benchmark');

const PORTS = {
  upstream: settings.portBase,
  wicket: settings.portBase + 1,
  wicketAdmin: settings.portBase + 2,
  nginx: settings.portBase + 3,
  haproxy: settings.portBase + 4,
  fastify: settings.portBase + 5,
  baseline: settings.portBase + 6,
  baselineAdmin: settings.portBase + 7,
  'wicket-limit': settings.portBase + 8,
  'wicket-limitAdmin': settings.portBase + 9,
  'wicket-redis': settings.portBase + 10,
  'wicket-redisAdmin': settings.portBase + 11,
  'wicket-jwt': settings.portBase + 12,
  'wicket-jwtAdmin': settings.portBase + 13,
  'wicket-bearer': settings.portBase + 14,
  'wicket-bearerAdmin': settings.portBase + 15,
  'wicket-apikey': settings.portBase + 16,
  'wicket-apikeyAdmin': settings.portBase + 17,
};
/** wicket-jwt: its public key (PEM) and the one token every request carries (made in main). */
const jwt = { spki: '', token: '' };
/** Request headers per proxy (the JWT pair and the API-key variant send credentials). */
const headersFor = (name) =>
  name === 'wicket-jwt' || name === 'wicket-bearer' ? { authorization: `Bearer ${jwt.token}` } : name === 'wicket-apikey' ? { 'x-api-key': benchApiKey } : {};
const UPSTREAM_URL = `http://127.0.0.1:${PORTS.upstream}`;

// ---------------------------------------------------------------- small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => console.log(`[bench] ${msg}`);

/**
 * CPU seconds (user + system) used so far by every live process of a process
 * group: each proxy is started detached, so its group is the proxy with all
 * its workers. Per request this is steadier than rps on a shared, noisy
 * machine: a busy neighbour slows a proxy down but adds little to the CPU it
 * spends per request. null where /proc is not there.
 */
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).stdout?.trim()) || 100;
function groupCpuSeconds(pgid) {
  let names;
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return null;
  }
  let ticks = 0;
  for (const d of names) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // After "pid (comm) ": state ppid pgrp ... utime stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function fmt(n, digits) {
  return typeof n === 'number' && Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

function renderTable(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map(String));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

// ---------------------------------------------------------------- child process registry

/** @type {Set<any>} every child still possibly alive (each is its own process group) */
const children = new Set();
const TAIL = 64 * 1024;

// Guard: a tiny detached process that holds the process-group ids of our children and
// kills those groups if its stdin reaches EOF while any are registered, i.e. if the
// harness dies without cleaning up (even SIGKILL / OOM, which no handler can catch).
const GUARD_SRC = `
const groups = new Set(); let buf = '';
for (const s of ['SIGINT', 'SIGHUP', 'SIGTERM']) process.on(s, () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d; let i;
  while ((i = buf.indexOf('\\n')) >= 0) {
    const [op, id] = buf.slice(0, i).split(' '); buf = buf.slice(i + 1);
    const g = Number(id); if (!(g > 1)) continue;
    if (op === '+') groups.add(g); else groups.delete(g);
  }
});
const killAll = (sig) => { for (const g of groups) { try { process.kill(-g, sig); } catch {} } };
process.stdin.on('end', () => {
  if (groups.size === 0) process.exit(0);
  killAll('SIGTERM');
  setTimeout(() => { killAll('SIGKILL'); process.exit(0); }, 3000);
});
`;
let guard = null;
function startGuard() {
  guard = spawn(process.execPath, ['-e', GUARD_SRC], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  guard.on('error', () => (guard = null));
  guard.stdin.on('error', () => {});
  guard.unref();
  guard.stdin.unref?.();
}
function guardTell(op, pid) {
  if (guard && pid && guard.stdin.writable) guard.stdin.write(`${op} ${pid}\n`);
}

function startChild(name, cmd, args, { ipc = false, cwd = ROOT } = {}) {
  const c = { name, cmd, args, pid: undefined, stdout: '', stderr: '', output: '', exited: false, code: null, signal: null, proc: null, messages: [] };
  let resolveExit;
  c.exitPromise = new Promise((r) => (resolveExit = r));
  const markExit = (code, signal) => {
    if (c.exited) return;
    c.exited = true;
    c.code = code;
    c.signal = signal;
    resolveExit();
  };
  // detached: own process group, so we can signal the child *and* everything it forks
  // (nginx/Wicket workers) with kill(-pgid), and a terminal ^C reaches only the harness.
  const proc = spawn(cmd, args, {
    cwd,
    detached: true,
    env: process.env,
    stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  c.proc = proc;
  c.pid = proc.pid;
  guardTell('+', c.pid);
  const add = (key) => (d) => {
    const s = d.toString();
    c[key] = (c[key] + s).slice(-TAIL);
    c.output = (c.output + s).slice(-TAIL);
  };
  proc.stdout.on('data', add('stdout'));
  proc.stderr.on('data', add('stderr'));
  proc.on('message', (m) => c.messages.push(m));
  proc.on('error', (err) => {
    c.output += `\n[spawn error] ${err.message}\n`;
    markExit(null, null);
  });
  proc.on('exit', (code, signal) => markExit(code, signal));
  if (ipc) proc.on('disconnect', () => {});
  children.add(c);
  return c;
}

function signalGroup(c, sig) {
  if (!c.pid) return;
  try {
    process.kill(-c.pid, sig);
  } catch {
    /* group already gone */
  }
}

function groupAlive(pgid) {
  if (!pgid) return false;
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

async function stopChild(c, graceMs = 5000) {
  if (!c.exited) {
    signalGroup(c, 'SIGTERM');
    await Promise.race([c.exitPromise, sleep(graceMs)]);
  }
  if (!c.exited) {
    signalGroup(c, 'SIGKILL');
    await Promise.race([c.exitPromise, sleep(2000)]);
  }
  // The leader is gone; give its forked workers a moment to follow, then sweep the group.
  for (let i = 0; i < 20 && groupAlive(c.pid); i++) await sleep(100);
  if (groupAlive(c.pid)) signalGroup(c, 'SIGKILL');
  if (c.proc && c.proc.connected) {
    try {
      c.proc.disconnect();
    } catch {
      /* ignore */
    }
  }
  guardTell('-', c.pid);
  children.delete(c);
}

async function stopAll() {
  await Promise.all([...children].map((c) => stopChild(c, c.name.startsWith('wicket') || c.name === 'baseline' ? 10_000 : 5000)));
}

function killAllNow() {
  for (const c of children) signalGroup(c, 'SIGKILL');
}

// Last line of defence: whatever happens, no child group outlives the harness
// (SIGKILL of the harness itself cannot be caught; the IPC-linked Node children
// still exit when their channel closes, and the port check catches the rest next time).
process.on('exit', killAllNow);

let stopping = false;
let tmpDir = null; // removed on interrupt unless BENCH_KEEP_TMP=1
const removeTmp = () => {
  if (tmpDir && !settings.keepTmp) fs.rmSync(tmpDir, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (stopping) {
      killAllNow();
      process.exit(130);
    }
    stopping = true;
    console.error(`\n[bench] ${sig} received: stopping all children...`);
    stopAll()
      .then(removeTmp)
      .finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  });
}
process.on('uncaughtException', (err) => {
  console.error('[bench] uncaught exception:', err);
  stopAll().finally(() => process.exit(1));
});
process.on('unhandledRejection', (err) => {
  console.error('[bench] unhandled rejection:', err);
  stopAll().finally(() => process.exit(1));
});

class StartError extends Error {}

// ---------------------------------------------------------------- preflight: tools

function findExecutable(name) {
  const dirs = [...(process.env.PATH || '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/usr/local/bin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

function checkTools() {
  const needed = ['wrk'];
  if (selected.includes('nginx')) needed.push('nginx');
  if (selected.includes('haproxy')) needed.push('haproxy');
  let found = Object.fromEntries(needed.map((t) => [t, findExecutable(t)]));
  let missing = needed.filter((t) => !found[t]);
  if (missing.length === 0) return found;

  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && process.env.CI === 'true') {
    // Root on CI: install them (Debian packages), bounded in time.
    log(`missing: ${missing.join(', ')}; running as root with CI=true, so installing: apt-get update && ${APT_CMD}`);
    const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const upd = spawnSync('apt-get', ['update'], { stdio: 'inherit', env: aptEnv, timeout: 300_000 });
    const inst = spawnSync('apt-get', ['install', '-y', 'nginx-light', 'haproxy', 'wrk'], { stdio: 'inherit', env: aptEnv, timeout: 600_000 });
    if (upd.status !== 0 || inst.status !== 0) fail(`apt-get failed (update exit ${upd.status}, install exit ${inst.status})`);
    found = Object.fromEntries(needed.map((t) => [t, findExecutable(t)]));
    missing = needed.filter((t) => !found[t]);
    if (missing.length === 0) return found;
  }
  console.error(`[bench] ERROR: required tool(s) not found: ${missing.join(', ')}`);
  console.error('[bench] Install them (Debian/Ubuntu) with:');
  console.error('');
  console.error(`    ${APT_CMD}`);
  console.error('');
  console.error(`[bench] (as root, after 'apt-get update'; prefix with sudo otherwise. Running as root with CI=true installs them automatically.)`);
  process.exit(1);
}

function toolVersion(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  const text = `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n')[0] || '';
  return text.trim();
}

// ---------------------------------------------------------------- preflight: ports

function bindTest(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (e) => resolve(e.code || String(e)));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(null)));
  });
}

function connectTest(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    const done = (v) => {
      sock.destroy();
      resolve(v);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

function whoListens(port) {
  const ss = findExecutable('ss');
  if (!ss) return '';
  const r = spawnSync(ss, ['-Hltnp', `sport = :${port}`], { encoding: 'utf8', timeout: 3000 });
  return (r.stdout || '').trim();
}

function portsInUse() {
  const list = [['upstream', PORTS.upstream]];
  for (const p of selected) list.push([p, PORTS[p]]);
  if (selected.includes('wicket')) list.push(['wicket admin', PORTS.wicketAdmin]);
  if (selected.includes('baseline')) list.push(['baseline admin', PORTS.baselineAdmin]);
  for (const n of ['wicket-limit', 'wicket-redis', 'wicket-jwt', 'wicket-bearer', 'wicket-apikey']) if (selected.includes(n)) list.push([`${n} admin`, PORTS[`${n}Admin`]]);
  return list;
}

async function checkPortsFree(when) {
  const busy = [];
  for (const [what, port] of portsInUse()) {
    const bindErr = await bindTest(port);
    const accepts = await connectTest(port);
    if (bindErr || accepts) busy.push({ what, port, reason: bindErr || 'accepts connections', who: whoListens(port) });
  }
  if (busy.length === 0) return true;
  console.error(`[bench] ${when}: port(s) on 127.0.0.1 are already in use:`);
  for (const b of busy) {
    console.error(`    ${b.port} (${b.what}): ${b.reason}${b.who ? `\n        ${b.who.split('\n').join('\n        ')}` : ''}`);
  }
  console.error('[bench] A process already on a benchmark port would silently take (part of) the traffic (SO_REUSEPORT).');
  console.error('[bench] Stop it, or move the harness with BENCH_PORT_BASE=<port> (uses base..base+5).');
  return false;
}

// ---------------------------------------------------------------- HTTP probe

function httpGet(port, urlPath = '/', timeoutMs = 1000, headers = {}) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { connection: 'close', ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', (e) => resolve({ status: 0, error: e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
  });
}

const okProxied = (r) => r.status === 200 && r.body && r.body.length === BODY_BYTES;

async function waitReady(c, label, checks) {
  const deadline = Date.now() + settings.startTimeoutSeconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    if (stopping) throw new StartError(`${label}: interrupted`);
    if (c.exited) {
      throw new StartError(
        `${label} exited during startup (code ${c.code}, signal ${c.signal}).\n` +
          `command: ${c.cmd} ${c.args.join(' ')}\n----- output (verbatim) -----\n${c.output}\n-----------------------------`,
      );
    }
    let allOk = true;
    // The fifth entry: request headers, or a probe of its own.
    for (const [desc, port, p, pred, extra] of checks) {
      const r = typeof extra === 'function' ? await extra() : await httpGet(port, p, 1000, extra);
      if (!pred(r)) {
        allOk = false;
        last = `${desc}: ${r.status ? `HTTP ${r.status}, ${r.body ? r.body.length : 0}-byte body` : r.error}`;
        break;
      }
    }
    if (allOk) return;
    await sleep(100);
  }
  throw new StartError(
    `${label} not ready after ${settings.startTimeoutSeconds}s (last check: ${last}).\n` +
      `command: ${c.cmd} ${c.args.join(' ')}\n----- output (verbatim) -----\n${c.output}\n-----------------------------`,
  );
}

// ---------------------------------------------------------------- configs

/** A per-IP limit far above what wrk can send: it is taken on every request and never trips. */
function limitYaml(tier) {
  return [
    ...(tier === 'global' ? [`rateLimit: { redis: { url: "${REDIS_URL}", deadlineMs: 50, keyPrefix: bench } }`] : []),
    'routes:',
    '  - name: all',
    '    match: { path: "/*" }',
    '    upstream: up',
    `    rateLimit: { limits: [ { name: per-ip, algorithm: gcra, limit: 10000000, windowMs: 1000, key: [ip], tier: ${tier} } ] }`,
    '',
  ].join('\n');
}

/** An ES256 provider with a local key; the route needs a valid token (the verified-token cache is on by default). */
function jwtYaml() {
  return [
    'auth:',
    '  jwt:',
    '    providers:',
    `      bench: { issuer: bench, audiences: [bench], algorithms: [ES256], keys: [ { kid: k1, pem: ${JSON.stringify(jwt.spki)} } ] }`,
    'routes:',
    '  - name: all',
    '    match: { path: "/*" }',
    '    upstream: up',
    '    auth: { methods: [ { jwt: { provider: bench } } ] }',
    '',
  ].join('\n');
}

/** The same route as plain Wicket's, behind the apiKey method (the key store in a file, keys made through the admin API). */
function apiKeyYaml() {
  return [
    'auth:',
    `  apiKey: { hashSecretEnv: ${APIKEY_SECRET_ENV}, file: bench-api-keys.json }`,
    'routes:',
    '  - name: all',
    '    match: { path: "/*" }',
    '    upstream: up',
    '    auth: { methods: [ { apiKey: {} } ] }',
    '',
  ].join('\n');
}
const APIKEY_SECRET_ENV = 'WICKET_BENCH_API_KEY_SECRET';
const APIKEY_ADMIN_TOKEN = randomBytes(24).toString('base64url');
/** The key wrk sends to wicket-apikey (made once the gateway is up). */
let benchApiKey = null;

/** POST to a Wicket admin endpoint with the bench's admin token; resolves with the JSON answer. */
function adminPost(port, urlPath, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: 'POST', agent: false, headers: { authorization: `Bearer ${APIKEY_ADMIN_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
      (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => (res.statusCode === 201 ? resolve(JSON.parse(Buffer.concat(chunks).toString())) : reject(new Error(`admin POST ${urlPath}: HTTP ${res.statusCode}`))));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(data);
  });
}

function wicketYaml(port = PORTS.wicket, adminPort = PORTS.wicketAdmin, balancer = BALANCER, routes = null, adminToken = null) {
  const lines = [
    '# generated by native-bench/proxy-bench.js',
    `workers: ${WICKET_WORKERS}`,
    `listen: { http: { host: 127.0.0.1, port: ${port} } }`,
    `admin: { host: 127.0.0.1, port: ${adminPort}${adminToken ? `, token: "${adminToken}"` : ''} }`,
    'log: { level: warn, access: false }',
    'upstreams:',
    `  up: { ${balancer ? `balancer: ${balancer}, ` : ''}targets: [ { url: "${UPSTREAM_URL}" } ], connections: ${CONNECTIONS} }`,
  ];
  return [...lines, routes ?? ['routes:', '  - { name: all, match: { path: "/*" }, upstream: up }', ''].join('\n')].join('\n');
}

function nginxConf(tmp, nginxBin) {
  const v = spawnSync(nginxBin, ['-V'], { encoding: 'utf8', timeout: 5000 });
  const build = `${v.stdout || ''}${v.stderr || ''}`;
  const has = (mod) => !build.includes(`--without-http_${mod}_module`);
  const t = (n) => path.join(tmp, n);
  return [
    '# generated by native-bench/proxy-bench.js',
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    `pid ${t('nginx.pid')};`,
    `error_log ${t('nginx-error.log')} warn;`,
    'events { worker_connections 4096; }',
    'http {',
    '    access_log off;',
    `    client_body_temp_path ${t('nginx-client-body')};`,
    `    proxy_temp_path ${t('nginx-proxy')};`,
    has('fastcgi') ? `    fastcgi_temp_path ${t('nginx-fastcgi')};` : null,
    has('uwsgi') ? `    uwsgi_temp_path ${t('nginx-uwsgi')};` : null,
    has('scgi') ? `    scgi_temp_path ${t('nginx-scgi')};` : null,
    '    keepalive_timeout 65s;',
    '    keepalive_requests 1000000;   # default 1000 would make wrk reconnect every 1000 requests',
    '    upstream up {',
    `        server 127.0.0.1:${PORTS.upstream};`,
    `        keepalive ${CONNECTIONS};`,
    '        keepalive_requests 1000000;',
    '        keepalive_timeout 60s;',
    '    }',
    '    server {',
    `        listen 127.0.0.1:${PORTS.nginx};`,
    '        location / {',
    '            proxy_pass http://up;',
    '            proxy_http_version 1.1;',
    '            proxy_set_header Connection "";',
    '            # the same forwarding headers Wicket sets on every request',
    '            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '            proxy_set_header X-Forwarded-Proto $scheme;',
    '            proxy_set_header X-Forwarded-Host $http_host;',
    '            proxy_set_header Forwarded "for=$remote_addr;host=$http_host;proto=$scheme";',
    '            proxy_set_header X-Request-ID $request_id;',
    '        }',
    '    }',
    '}',
    '',
  ]
    .filter((l) => l !== null)
    .join('\n');
}

function haproxyCfg() {
  return [
    '# generated by native-bench/proxy-bench.js (no "log" lines: logging is off)',
    'global',
    '    nbthread 1',
    '    maxconn 4096',
    '',
    'defaults',
    '    mode http',
    '    option http-keep-alive',
    '    timeout connect 5s',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout http-request 10s',
    '    timeout http-keep-alive 30s',
    '',
    'frontend fe',
    `    bind 127.0.0.1:${PORTS.haproxy}`,
    '    default_backend be',
    '    # the same forwarding headers Wicket sets on every request',
    '    option forwardfor',
    '    http-request set-header X-Forwarded-Proto http',
    '    http-request set-header X-Forwarded-Host %[req.hdr(host)]',
    '    http-request set-header Forwarded for=%[src];host=%[req.hdr(host)];proto=http',
    '    unique-id-format %{+X}o%ci%cp%fp%Ts%rt%pid',
    '    unique-id-header X-Request-ID',
    '',
    'backend be',
    '    http-reuse always',
    `    server up 127.0.0.1:${PORTS.upstream} pool-max-conn ${CONNECTIONS}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- starting things

async function startUpstream() {
  const c = startChild('upstream', process.execPath, [path.join(HERE, 'upstream.js'), String(PORTS.upstream), '127.0.0.1', String(BODY_BYTES)], { ipc: true });
  await waitReady(c, 'upstream', [['GET /', PORTS.upstream, '/', okProxied]]);
  return c;
}

async function startProxy(name, tools, tmp, configs) {
  switch (name) {
    case 'wicket': {
      const cfgPath = path.join(tmp, 'wicket.yaml');
      configs.wicket = wicketYaml();
      fs.writeFileSync(cfgPath, configs.wicket);
      const c = startChild('wicket', process.execPath, [WICKET_CLI, 'start', '--config', cfgPath]);
      await waitReady(c, 'wicket', [
        ['admin GET /healthz', PORTS.wicketAdmin, '/healthz', (r) => r.status === 200],
        ['proxy GET /', PORTS.wicket, '/', okProxied],
      ]);
      return c;
    }
    case 'wicket-limit':
    case 'wicket-redis':
    case 'wicket-jwt':
    case 'wicket-bearer': {
      const cfgPath = path.join(tmp, `${name}.yaml`);
      const routes = name === 'wicket-jwt' ? jwtYaml() : name === 'wicket-bearer' ? null : limitYaml(name === 'wicket-redis' ? 'global' : 'local');
      configs[name] = wicketYaml(PORTS[name], PORTS[`${name}Admin`], BALANCER, routes);
      fs.writeFileSync(cfgPath, configs[name]);
      const c = startChild(name, process.execPath, [WICKET_CLI, 'start', '--config', cfgPath]);
      await waitReady(c, name, [
        ['admin GET /healthz', PORTS[`${name}Admin`], '/healthz', (r) => r.status === 200],
        ['proxy GET /', PORTS[name], '/', okProxied, headersFor(name)],
      ]);
      return c;
    }
    case 'wicket-apikey': {
      const cfgPath = path.join(tmp, `${name}.yaml`);
      configs[name] = wicketYaml(PORTS[name], PORTS[`${name}Admin`], BALANCER, apiKeyYaml(), APIKEY_ADMIN_TOKEN);
      fs.writeFileSync(cfgPath, configs[name]);
      process.env[APIKEY_SECRET_ENV] ??= randomBytes(32).toString('base64url'); // the child inherits it
      const c = startChild(name, process.execPath, [WICKET_CLI, 'start', '--config', cfgPath]);
      const admin = PORTS[`${name}Admin`];
      await waitReady(c, name, [
        ['admin GET /healthz', admin, '/healthz', (r) => r.status === 200],
        ['proxy GET / without a key', PORTS[name], '/', (r) => r.status === 401],
      ]);
      await adminPost(admin, '/auth/apiKey/consumers', { name: 'bench' });
      benchApiKey = (await adminPost(admin, '/auth/apiKey/consumers/bench/keys', {})).key;
      const probe = () => httpGet(PORTS[name], '/', 1000, { 'x-api-key': benchApiKey });
      await waitReady(c, name, [['proxy GET / with the key', PORTS[name], '/', okProxied, probe]]);
      return c;
    }
    case 'baseline': {
      // Another checkout's build, same config: a before/after of Wicket in one run.
      // Its balancer key is left out (older builds balance per worker).
      const cfgPath = path.join(tmp, 'baseline.yaml');
      configs.baseline = wicketYaml(PORTS.baseline, PORTS.baselineAdmin, null);
      fs.writeFileSync(cfgPath, configs.baseline);
      const c = startChild('baseline', process.execPath, [BASELINE_CLI, 'start', '--config', cfgPath], { cwd: BASELINE });
      await waitReady(c, 'baseline', [
        ['admin GET /healthz', PORTS.baselineAdmin, '/healthz', (r) => r.status === 200],
        ['proxy GET /', PORTS.baseline, '/', okProxied],
      ]);
      return c;
    }
    case 'nginx': {
      const cfgPath = path.join(tmp, 'nginx.conf');
      configs.nginx = nginxConf(tmp, tools.nginx);
      fs.writeFileSync(cfgPath, configs.nginx);
      const args = ['-p', tmp + '/', '-e', path.join(tmp, 'nginx-error.log'), '-c', cfgPath];
      const t = spawnSync(tools.nginx, ['-t', '-q', ...args], { encoding: 'utf8', timeout: 10_000 });
      if (t.status !== 0) throw new StartError(`nginx -t rejected the generated config:\n${t.stdout}${t.stderr}\n${configs.nginx}`);
      const c = startChild('nginx', tools.nginx, args);
      await waitReady(c, 'nginx', [['GET /', PORTS.nginx, '/', okProxied]]);
      return c;
    }
    case 'haproxy': {
      const cfgPath = path.join(tmp, 'haproxy.cfg');
      configs.haproxy = haproxyCfg();
      fs.writeFileSync(cfgPath, configs.haproxy);
      const t = spawnSync(tools.haproxy, ['-c', '-q', '-f', cfgPath], { encoding: 'utf8', timeout: 10_000 });
      if (t.status !== 0) throw new StartError(`haproxy -c rejected the generated config:\n${t.stdout}${t.stderr}\n${configs.haproxy}`);
      const c = startChild('haproxy', tools.haproxy, ['-db', '-f', cfgPath]);
      await waitReady(c, 'haproxy', [['GET /', PORTS.haproxy, '/', okProxied]]);
      return c;
    }
    case 'fastify': {
      configs.fastify = `node native-bench/fastify-proxy.js ${PORTS.fastify} ${UPSTREAM_URL} ${CONNECTIONS}`;
      const c = startChild('fastify', process.execPath, [path.join(HERE, 'fastify-proxy.js'), String(PORTS.fastify), UPSTREAM_URL, String(CONNECTIONS)], { ipc: true });
      await waitReady(c, 'fastify', [['GET /', PORTS.fastify, '/', okProxied]]);
      return c;
    }
    default:
      throw new Error(`unknown proxy ${name}`);
  }
}

// ---------------------------------------------------------------- wrk

const UNIT_MS = { us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function parseWrk(text) {
  const out = { rps: null, p50Ms: null, p99Ms: null, requests: null, errors: { connect: 0, read: 0, write: 0, timeout: 0, non2xx3xx: 0 } };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  if (rps) out.rps = Number(rps[1]);
  const pct = (p) => {
    const m = new RegExp(`^\\s*${p}(?:\\.0+)?%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm').exec(text);
    return m ? Number(m[1]) * UNIT_MS[m[2]] : null;
  };
  out.p50Ms = pct(50);
  out.p99Ms = pct(99);
  const req = /(\d+) requests in /.exec(text);
  if (req) out.requests = Number(req[1]);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (se) Object.assign(out.errors, { connect: +se[1], read: +se[2], write: +se[3], timeout: +se[4] });
  const nx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  if (nx) out.errors.non2xx3xx = Number(nx[1]);
  out.errorTotal = Object.values(out.errors).reduce((a, b) => a + b, 0);
  return out;
}

async function runWrk(tools, name, port, duration) {
  const headers = Object.entries(headersFor(name)).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const args = [`-t${THREADS}`, `-c${CONNECTIONS}`, `-d${duration.arg}`, '--latency', ...headers, `http://127.0.0.1:${port}/`];
  const c = startChild(`wrk:${name}`, tools.wrk, args);
  let timedOut = false;
  // Hard bound: wrk's own -d plus a generous margin; then the whole group is killed.
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(c, 'SIGKILL');
  }, (duration.seconds + 30) * 1000);
  await c.exitPromise;
  clearTimeout(timer);
  await stopChild(c, 1000);
  const parsed = parseWrk(c.stdout);
  let error = null;
  if (timedOut) error = `wrk did not finish within ${duration.seconds + 30}s and was killed`;
  else if (c.code !== 0) error = `wrk exited with code ${c.code} signal ${c.signal}: ${c.stderr.trim()}`;
  else if (parsed.rps === null || parsed.p50Ms === null || parsed.p99Ms === null) error = 'could not parse wrk output';
  // Bench credentials are throwaways, but they stay out of result files all the same.
  const shown = args.map((a) => (a.startsWith('authorization: ') ? 'authorization: Bearer <token>' : a.startsWith('x-api-key: ') ? 'x-api-key: <api key>' : a));
  return { command: `wrk ${shown.join(' ')}`, ...parsed, error, raw: c.stdout + (c.stderr ? `\n[stderr]\n${c.stderr}` : '') };
}

function errorsCell(r) {
  if (r.error) return 'FAILED';
  if (!r.errorTotal) return '0';
  const e = r.errors;
  return Object.entries(e)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

// ---------------------------------------------------------------- main

async function main() {
  const startedAt = new Date();
  if (BASELINE_CLI && !fs.existsSync(BASELINE_CLI)) fail(`${BASELINE_CLI} not found: build the baseline checkout first`);
  if (selected.includes('wicket') && !fs.existsSync(WICKET_CLI)) {
    fail(
      `${path.relative(ROOT, WICKET_CLI)} not found. Build the gateway first (npm run build), ` +
        'or skip Wicket with BENCH_ONLY=nginx,haproxy,fastify',
    );
  }
  const tools = checkTools();
  if (!(await checkPortsFree('before start'))) process.exit(1);
  if (selected.includes('wicket-jwt') || selected.includes('wicket-bearer')) {
    const { SignJWT, exportSPKI, generateKeyPair } = await import('jose');
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    jwt.spki = await exportSPKI(publicKey);
    jwt.token = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('bench').setAudience('bench').setExpirationTime('1d').sign(privateKey);
  }
  startGuard();

  const load1 = os.loadavg()[0];
  const cpus = os.cpus();
  if (load1 > 0.5 * cpus.length) {
    log(`WARNING: 1-min load average is ${load1.toFixed(2)} on ${cpus.length} CPUs: something else is busy, numbers will be noisy.`);
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wicket-bench-'));
  tmpDir = tmp;
  fs.chmodSync(tmp, 0o755); // nginx workers drop to 'nobody' when started as root
  const configs = {};
  log(`temp dir ${tmp}`);
  log(
    `proxies: ${selected.join(', ')} | wrk -t${THREADS} -c${CONNECTIONS} -d${settings.duration.arg} --latency | ` +
      `rounds ${settings.rounds} | warm-up ${settings.warmup.seconds ? settings.warmup.arg : 'off'} | ports ${settings.portBase}..${settings.portBase + 7}`,
  );

  const procs = {};
  let exitCode = 0;
  let report = null;
  try {
    log(`starting upstream (uWebSockets.js, ${BODY_BYTES}-byte body) on ${UPSTREAM_URL}`);
    procs.upstream = await startUpstream();
    for (const name of selected) {
      log(`starting ${name} on 127.0.0.1:${PORTS[name]}${name === 'wicket' ? ` (admin ${PORTS.wicketAdmin})` : ''}`);
      procs[name] = await startProxy(name, tools, tmp, configs);
    }

    const checkAlive = () => {
      for (const [n, c] of Object.entries(procs)) {
        if (c.exited) {
          throw new StartError(`${n} died during the benchmark (code ${c.code}, signal ${c.signal}).\n----- output (verbatim) -----\n${c.output}\n-----------------------------`);
        }
      }
    };

    if (settings.warmup.seconds > 0) {
      for (const name of selected) {
        if (stopping) return;
        log(`warm-up ${name} (${settings.warmup.arg}, discarded)`);
        const w = await runWrk(tools, name, PORTS[name], settings.warmup);
        if (stopping) return;
        if (w.error || w.errorTotal) log(`  warm-up ${name}: ${w.error || `errors ${errorsCell(w)}`}`);
        checkAlive();
      }
    }

    const rounds = [];
    for (let r = 0; r < settings.rounds; r++) {
      const order = selected.map((_, i) => selected[(i + r) % selected.length]);
      log(`round ${r + 1}/${settings.rounds}: ${order.join(' -> ')}`);
      const results = [];
      for (const name of order) {
        if (stopping) return;
        if (settings.cooldownSeconds > 0) await sleep(settings.cooldownSeconds * 1000);
        log(`  wrk ${name} ...`);
        const cpu0 = groupCpuSeconds(procs[name].pid);
        const res = await runWrk(tools, name, PORTS[name], settings.duration);
        const cpu1 = groupCpuSeconds(procs[name].pid);
        if (stopping) return;
        const cpuUsPerReq = cpu0 !== null && cpu1 !== null && res.requests ? ((cpu1 - cpu0) * 1e6) / res.requests : null;
        results.push({ name, ...res, cpuUsPerReq });
        if (res.error) log(`  ${name}: ${res.error}`);
        checkAlive();
      }
      const ng = results.find((x) => x.name === 'nginx');
      // Variants of Wicket (baseline, limits) against plain Wicket of the same round: paired ratios.
      const wk = results.find((x) => x.name === 'wicket');
      for (const x of results) {
        x.ratioVsNginx = ng && ng.rps && x.rps !== null && !x.error && !ng.error ? x.rps / ng.rps : null;
        x.ratioVsWicket = wk && wk.rps && x.rps !== null && !x.error && !wk.error ? x.rps / wk.rps : null;
        x.cpuVsWicket = wk && wk.cpuUsPerReq && x.cpuUsPerReq ? x.cpuUsPerReq / wk.cpuUsPerReq : null;
      }
      rounds.push({ round: r + 1, order, results });
      console.log(`\nRound ${r + 1}/${settings.rounds} (order: ${order.join(', ')})`);
      console.log(
        renderTable(
          ['name', 'rps', 'p50 ms', 'p99 ms', 'vs nginx', 'vs wicket', 'cpu us/req', 'errors'],
          selected.map((n) => {
            const x = results.find((y) => y.name === n);
            return [n, fmt(x.rps, 0), fmt(x.p50Ms, 2), fmt(x.p99Ms, 2), fmt(x.ratioVsNginx, 2), fmt(x.ratioVsWicket, 2), fmt(x.cpuUsPerReq, 1), errorsCell(x)];
          }),
        ),
      );
      console.log('');
    }

    const medians = selected.map((n) => {
      const runs = rounds.map((rd) => rd.results.find((y) => y.name === n)).filter((x) => x && !x.error);
      return {
        name: n,
        runs: runs.length,
        rps: median(runs.map((x) => x.rps)),
        p50Ms: median(runs.map((x) => x.p50Ms)),
        p99Ms: median(runs.map((x) => x.p99Ms)),
        ratioVsNginx: median(runs.map((x) => x.ratioVsNginx)),
        ratioVsWicket: median(runs.map((x) => x.ratioVsWicket)),
        cpuUsPerReq: median(runs.map((x) => x.cpuUsPerReq)),
        cpuVsWicket: median(runs.map((x) => x.cpuVsWicket)),
        errors: runs.reduce((a, x) => a + x.errorTotal, 0),
        failedRuns: rounds.length - runs.length,
      };
    });
    console.log(`Medians over ${settings.rounds} round(s) (wrk -t${THREADS} -c${CONNECTIONS} -d${settings.duration.arg}, ${BODY_BYTES}-byte upstream body)`);
    console.log(
      renderTable(
        ['name', 'median rps', 'median p50 ms', 'median p99 ms', 'median vs nginx', 'median vs wicket', 'cpu us/req', 'cpu vs wicket', 'errors (all rounds)'],
        medians.map((m) => [
          m.name,
          fmt(m.rps, 0),
          fmt(m.p50Ms, 2),
          fmt(m.p99Ms, 2),
          fmt(m.ratioVsNginx, 2),
          fmt(m.ratioVsWicket, 2),
          fmt(m.cpuUsPerReq, 1),
          fmt(m.cpuVsWicket, 3),
          m.failedRuns ? `${m.errors} (+${m.failedRuns} failed run)` : String(m.errors),
        ]),
      ),
    );
    // JWT: paired per round (same round, interleaved), then the median of the ratios.
    const paired = (a, b, key) =>
      median(rounds.map((rd) => [rd.results.find((y) => y.name === a), rd.results.find((y) => y.name === b)]).filter(([x, y]) => x && y && !x.error && !y.error && x[key] && y[key]).map(([x, y]) => x[key] / y[key]));
    if (selected.includes('wicket-jwt')) {
      for (const other of ['wicket', 'wicket-bearer'].filter((n) => selected.includes(n))) {
        console.log(`\nwicket-jwt / ${other}: rps ${fmt(paired('wicket-jwt', other, 'rps'), 3)}x, cpu per request ${fmt(paired('wicket-jwt', other, 'cpuUsPerReq'), 3)}x (median of per-round ratios)`);
      }
    }
    if (medians.some((m) => m.errors > 0 || m.failedRuns > 0)) {
      console.log('\nNOTE: some runs had socket errors, non-2xx/3xx responses or failed: treat those rows with suspicion.');
    }

    const gitRev = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).stdout?.trim() || null;
    const gitDirty = (spawnSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).stdout || '').trim() !== '';
    report = {
      kind: 'wicket-proxy-bench',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      settings: {
        proxies: selected,
        durationSeconds: settings.duration.seconds,
        rounds: settings.rounds,
        warmupSeconds: settings.warmup.seconds,
        cooldownSeconds: settings.cooldownSeconds,
        wrk: { threads: THREADS, connections: CONNECTIONS },
        upstreamBodyBytes: BODY_BYTES,
        upstreamPoolSize: CONNECTIONS,
        ports: PORTS,
      },
      environment: {
        host: os.hostname(),
        platform: `${os.type()} ${os.release()} ${os.arch()}`,
        cpuModel: cpus[0]?.model ?? null,
        cpus: cpus.length,
        memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
        loadavgAtStart: load1,
        node: process.version,
        nginx: tools.nginx ? toolVersion(tools.nginx, ['-v']) : null,
        haproxy: tools.haproxy ? toolVersion(tools.haproxy, ['-v']) : null,
        wrk: toolVersion(tools.wrk, ['-v']),
        git: { rev: gitRev, dirty: gitDirty },
      },
      configs,
      rounds,
      medians,
    };
  } catch (err) {
    exitCode = 1;
    if (stopping) return; // interrupted: the signal handler reports and exits
    if (err instanceof StartError) console.error(`\n[bench] ERROR: ${err.message}`);
    else console.error('\n[bench] ERROR:', err);
  } finally {
    log('stopping all children');
    await stopAll();
  }

  if (stopping) return;
  if (!(await checkPortsFree('after cleanup'))) {
    console.error('[bench] ERROR: something is still holding a benchmark port after cleanup.');
    exitCode = 1;
  }
  if (report) {
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `proxy-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    log(`results written to ${path.relative(process.cwd(), file) || file}`);
  }
  if (exitCode === 0 && !settings.keepTmp) fs.rmSync(tmp, { recursive: true, force: true });
  else log(`temp dir kept: ${tmp}`);
  process.exit(exitCode);
}

main().catch((err) => {
  console.error('[bench] fatal:', err);
  stopAll().finally(() => process.exit(1));
});
