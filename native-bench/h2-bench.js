#!/usr/bin/env node
// Wicket HTTP/2 benchmarks, driven by h2load (nghttp2-client) in interleaved rounds:
//
//   grpc  gRPC unary through Wicket's h2c listener (upstream `protocol: h2`) to an
//         @grpc/grpc-js server, against the same h2load sent to that server directly.
//         Goal (issue): through / direct >= 0.7.
//   h2    h2c GETs through Wicket vs through nginx (`listen ... http2`), both proxying
//         to the same HTTP/1.1 upstream (native-bench/upstream.js) over keep-alive.
//
//   npm run bench:h2                                    # = npm run build && node native-bench/h2-bench.js
//   BENCH_ONLY=grpc BENCH_ROUNDS=1 BENCH_DURATION=3 node native-bench/h2-bench.js
//
// The gRPC upstream is this same file run as `node native-bench/h2-bench.js --grpc-upstream PORT`.
// See native-bench/README.md ("HTTP/2 and gRPC") for what it measures and how to read it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const WICKET_CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
const RESULTS_DIR = path.join(HERE, 'results');

const ALL_BENCHES = ['grpc', 'h2'];
const GRPC_SERVICE = 'wicket.bench.Echo';
const GRPC_PATH = `/${GRPC_SERVICE}/Unary`;
const GRPC_REQUEST = Buffer.from('ping-0123456789-0123456789-01234'); // 32 bytes
const GRPC_REPLY_BYTES = 100;
const BODY_BYTES = 100; // HTTP/1.1 upstream body (native-bench/upstream.js)
const APT_CMD = 'apt-get install -y nghttp2-client nginx-light';

/** The reply of the gRPC upstream: deterministic, printable, GRPC_REPLY_BYTES long. */
function grpcReply() {
  const b = Buffer.alloc(GRPC_REPLY_BYTES, 'pong-0123456789-');
  b[GRPC_REPLY_BYTES - 1] = 0x0a;
  return b;
}

/** One length-prefixed gRPC message: compressed flag 0, uint32 BE length, payload. */
function grpcFrame(payload) {
  const f = Buffer.alloc(5 + payload.length);
  f[0] = 0;
  f.writeUInt32BE(payload.length, 1);
  payload.copy(f, 5);
  return f;
}

// ================================================================ gRPC upstream (child mode)
//
// An @grpc/grpc-js server with one unary method and identity (raw Buffer) serializers, so no
// .proto file is needed. It counts the calls it answered (and requests whose payload was not
// the expected one) and reports the counts over IPC: the harness compares them with what
// h2load says succeeded, because h2load only sees HTTP 200, and a gateway's own gRPC errors
// are HTTP 200 as well (grpc-status in the trailers).

async function grpcUpstreamMain(port) {
  const grpc = await import('@grpc/grpc-js');
  const id = (b) => b;
  const service = {
    Unary: { path: GRPC_PATH, requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  };
  const reply = grpcReply();
  let calls = 0;
  let badRequests = 0;
  const server = new grpc.Server();
  server.addService(service, {
    Unary: (call, cb) => {
      calls++;
      if (!GRPC_REQUEST.equals(call.request)) badRequests++;
      cb(null, reply);
    },
  });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
    if (err) {
      console.error(`grpc-upstream: cannot listen on 127.0.0.1:${port}: ${err.message}`);
      process.exit(1);
    }
    console.log(`grpc-upstream: listening on 127.0.0.1:${p} (${GRPC_PATH}, ${GRPC_REPLY_BYTES}-byte reply, grpc-js ${grpcVersion()})`);
    if (process.send) process.send({ type: 'ready', port: p });
  });
  const shutdown = () => {
    server.forceShutdown();
    process.exit(0);
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (process.send) {
    process.on('disconnect', shutdown); // never outlive the harness
    process.on('message', (m) => {
      if (m && m.type === 'count') process.send({ type: 'count', seq: m.seq, calls, badRequests });
    });
  }
}

function grpcVersion() {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', '@grpc', 'grpc-js', 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

// ================================================================ settings

function fail(msg) {
  console.error(`[h2-bench] ERROR: ${msg}`);
  process.exit(1);
}

function parseDuration(name, raw, { allowZero = false } = {}) {
  const m = /^\s*(\d+)\s*(s|m)?\s*$/.exec(String(raw));
  if (!m) fail(`${name}=${raw} is not a duration (use e.g. 10, 10s, 1m)`);
  const seconds = Number(m[1]) * (m[2] === 'm' ? 60 : 1);
  if (seconds === 0 && !allowZero) fail(`${name} must be > 0`);
  return { arg: `${seconds}s`, seconds };
}

function parsePositiveInt(name, raw) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) fail(`${name}=${raw} must be a positive integer`);
  return n;
}

let S = null; // settings, read in bench mode only
let PORTS = null;

function readSettings() {
  const E = process.env;
  const s = {
    duration: parseDuration('BENCH_DURATION', E.BENCH_DURATION ?? '10s'),
    rounds: parsePositiveInt('BENCH_ROUNDS', E.BENCH_ROUNDS ?? '5'),
    warmup: parseDuration('BENCH_WARMUP', E.BENCH_WARMUP ?? '2s', { allowZero: true }),
    cooldownSeconds: Number(E.BENCH_COOLDOWN ?? '1'),
    startTimeoutSeconds: Number(E.BENCH_START_TIMEOUT ?? '30'),
    portBase: parsePositiveInt('BENCH_PORT_BASE', E.BENCH_PORT_BASE ?? '18460'),
    keepTmp: E.BENCH_KEEP_TMP === '1',
    workers: parsePositiveInt('BENCH_WORKERS', E.BENCH_WORKERS ?? '1'),
    latencyLog: E.BENCH_LATENCY_LOG !== '0',
    grpc: { clients: parsePositiveInt('BENCH_GRPC_CLIENTS', E.BENCH_GRPC_CLIENTS ?? '16'), streams: parsePositiveInt('BENCH_GRPC_STREAMS', E.BENCH_GRPC_STREAMS ?? '10') },
    h2: { clients: parsePositiveInt('BENCH_H2_CLIENTS', E.BENCH_H2_CLIENTS ?? '16'), streams: parsePositiveInt('BENCH_H2_STREAMS', E.BENCH_H2_STREAMS ?? '10') },
    benches: ALL_BENCHES,
  };
  if (!(s.cooldownSeconds >= 0)) fail('BENCH_COOLDOWN must be a number of seconds >= 0');
  if (!(s.startTimeoutSeconds > 0)) fail('BENCH_START_TIMEOUT must be a number of seconds > 0');
  if (s.portBase + 5 > 65535) fail('BENCH_PORT_BASE too high');
  if (E.BENCH_ONLY && E.BENCH_ONLY.trim() !== '') {
    const wanted = E.BENCH_ONLY.split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
    const unknown = wanted.filter((w) => !ALL_BENCHES.includes(w));
    if (unknown.length) fail(`BENCH_ONLY has unknown name(s): ${unknown.join(', ')} (known: ${ALL_BENCHES.join(', ')})`);
    s.benches = ALL_BENCHES.filter((b) => wanted.includes(b));
  }
  if (s.benches.length === 0) fail('nothing to benchmark');
  // Upstream pool of both proxies in the h2 bench = every stream h2load can have in flight,
  // so neither queues for an upstream connection nor opens and closes extra ones.
  s.h2.pool = s.h2.clients * s.h2.streams;
  return s;
}

function portMap(base) {
  return {
    grpcUpstream: base, // @grpc/grpc-js server (grpc bench)
    wicketHttp: base + 1, // Wicket's HTTP/1.1 listener (required by its config, not measured)
    wicketAdmin: base + 2,
    wicketH2c: base + 3, // Wicket's h2c listener: measured in both benches
    upstream: base + 4, // uWS HTTP/1.1 upstream (h2 bench)
    nginx: base + 5, // nginx h2c (h2 bench)
  };
}

// ================================================================ small helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (msg) => console.log(`[h2-bench] ${msg}`);

/**
 * CPU seconds (user + system) used so far by every live process of a process group (each
 * proxy runs detached: its group is the proxy with all its workers). Steadier than rps on a
 * noisy machine. null where /proc is not there.
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
      continue;
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

// ================================================================ child process registry

/** @type {Set<any>} every child still possibly alive (each is its own process group) */
const children = new Set();
const TAIL = 64 * 1024;

// Guard: a tiny detached process that holds the process-group ids of our children and kills
// those groups if its stdin reaches EOF while any are registered, i.e. if the harness dies
// without cleaning up (even SIGKILL / OOM, which no handler can catch).
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
  const c = { name, cmd, args, pid: undefined, stdout: '', stderr: '', output: '', exited: false, code: null, signal: null, proc: null };
  let resolveExit;
  c.exitPromise = new Promise((r) => (resolveExit = r));
  const markExit = (code, signal) => {
    if (c.exited) return;
    c.exited = true;
    c.code = code;
    c.signal = signal;
    resolveExit();
  };
  // detached: own process group, so kill(-pgid) reaches the child and everything it forks.
  const proc = spawn(cmd, args, { cwd, detached: true, env: process.env, stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'] });
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
  await Promise.all([...children].map((c) => stopChild(c, c.name === 'wicket' ? 10_000 : 5000)));
}

function killAllNow() {
  for (const c of children) signalGroup(c, 'SIGKILL');
}

let stopping = false;
let tmpDir = null;

function installHandlers() {
  process.on('exit', killAllNow);
  const removeTmp = () => {
    if (tmpDir && !S.keepTmp) fs.rmSync(tmpDir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (stopping) {
        killAllNow();
        process.exit(130);
      }
      stopping = true;
      console.error(`\n[h2-bench] ${sig} received: stopping all children...`);
      stopAll()
        .then(removeTmp)
        .finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('[h2-bench] uncaught exception:', err);
    stopAll().finally(() => process.exit(1));
  });
  process.on('unhandledRejection', (err) => {
    console.error('[h2-bench] unhandled rejection:', err);
    stopAll().finally(() => process.exit(1));
  });
}

class StartError extends Error {}

// ================================================================ preflight

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
  const needed = ['h2load'];
  if (S.benches.includes('h2')) needed.push('nginx');
  const found = Object.fromEntries(needed.map((t) => [t, findExecutable(t)]));
  const missing = needed.filter((t) => !found[t]);
  if (missing.length) {
    console.error(`[h2-bench] ERROR: required tool(s) not found: ${missing.join(', ')}`);
    console.error('[h2-bench] Install them (Debian/Ubuntu, as root after apt-get update) with:\n');
    console.error(`    ${APT_CMD}\n`);
    process.exit(1);
  }
  if (!fs.existsSync(WICKET_CLI)) fail(`${path.relative(ROOT, WICKET_CLI)} not found: build the gateway first (npm run build)`);
  if (S.benches.includes('grpc') && !grpcVersion()) fail('@grpc/grpc-js is not in node_modules (it is a devDependency: npm install)');
  return found;
}

function toolVersion(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 5000 });
  return (`${r.stdout || ''}${r.stderr || ''}`.trim().split('\n')[0] || '').trim();
}

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
  const list = [
    ['wicket http', PORTS.wicketHttp],
    ['wicket admin', PORTS.wicketAdmin],
    ['wicket h2c', PORTS.wicketH2c],
  ];
  if (S.benches.includes('grpc')) list.push(['grpc upstream', PORTS.grpcUpstream]);
  if (S.benches.includes('h2')) list.push(['http/1.1 upstream', PORTS.upstream], ['nginx h2c', PORTS.nginx]);
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
  console.error(`[h2-bench] ${when}: port(s) on 127.0.0.1 are already in use:`);
  for (const b of busy) console.error(`    ${b.port} (${b.what}): ${b.reason}${b.who ? `\n        ${b.who.split('\n').join('\n        ')}` : ''}`);
  console.error('[h2-bench] Stop it, or move the harness with BENCH_PORT_BASE=<port> (uses base..base+5).');
  return false;
}

// ================================================================ probes

function httpGet(port, urlPath = '/', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', (e) => resolve({ status: 0, error: e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
  });
}

/**
 * One HTTP/2 (prior knowledge) request on a fresh session. Resolves with
 * { status, headers, body, trailers } or { status: 0, error }.
 */
function h2Request(port, headers, body = null, timeoutMs = 2000) {
  return new Promise((resolve) => {
    let done = false;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const finish = (r) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.close();
      session.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ status: 0, error: 'timeout' }), timeoutMs);
    session.on('error', (e) => finish({ status: 0, error: e.message }));
    let req;
    try {
      req = session.request(headers, { endStream: body === null });
    } catch (e) {
      finish({ status: 0, error: e.message });
      return;
    }
    let resHeaders = null;
    let trailers = null;
    const chunks = [];
    req.on('response', (h) => (resHeaders = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (d) => chunks.push(d));
    req.on('end', () => finish({ status: resHeaders ? Number(resHeaders[':status']) : 0, headers: resHeaders, body: Buffer.concat(chunks), trailers, error: resHeaders ? undefined : 'no response headers' }));
    req.on('error', (e) => finish({ status: 0, error: e.message }));
    if (body !== null) req.end(body);
  });
}

const okBody = (r) => r.status === 200 && r.body && r.body.length === BODY_BYTES;

/** A unary gRPC call by hand: HTTP 200, application/grpc, the expected reply frame, grpc-status 0 in the trailers. */
async function grpcProbe(port) {
  const r = await h2Request(port, { ':method': 'POST', ':path': GRPC_PATH, 'content-type': 'application/grpc', te: 'trailers' }, grpcFrame(GRPC_REQUEST));
  if (r.error) return { ok: false, why: r.error };
  const ct = String(r.headers['content-type'] || '');
  const st = r.trailers?.['grpc-status'] ?? r.headers['grpc-status'];
  const msg = r.trailers?.['grpc-message'] ?? r.headers['grpc-message'];
  if (r.status !== 200) return { ok: false, why: `HTTP ${r.status}` };
  if (!ct.startsWith('application/grpc')) return { ok: false, why: `content-type ${ct || '(none)'}` };
  if (st !== '0') return { ok: false, why: `grpc-status ${st ?? '(none)'}${msg ? ` grpc-message ${msg}` : ''}${r.trailers ? '' : ' (trailers-only)'}` };
  if (!r.trailers) return { ok: false, why: 'grpc-status 0 without a trailer block' };
  if (!r.body.equals(grpcFrame(grpcReply()))) return { ok: false, why: `unexpected body (${r.body.length} bytes)` };
  return { ok: true, why: 'HTTP 200, application/grpc, expected reply frame, trailer grpc-status: 0' };
}

async function waitReady(c, label, checks) {
  const deadline = Date.now() + S.startTimeoutSeconds * 1000;
  let last = '';
  while (Date.now() < deadline) {
    if (stopping) throw new StartError(`${label}: interrupted`);
    if (c.exited) {
      throw new StartError(`${label} exited during startup (code ${c.code}, signal ${c.signal}).\ncommand: ${c.cmd} ${c.args.join(' ')}\n----- output (verbatim) -----\n${c.output}\n-----------------------------`);
    }
    let allOk = true;
    for (const [desc, fn] of checks) {
      const why = await fn();
      if (why !== true) {
        allOk = false;
        last = `${desc}: ${why}`;
        break;
      }
    }
    if (allOk) return;
    await sleep(150);
  }
  throw new StartError(`${label} not ready after ${S.startTimeoutSeconds}s (last check: ${last}).\ncommand: ${c.cmd} ${c.args.join(' ')}\n----- output (verbatim) -----\n${c.output}\n-----------------------------`);
}

const checkHttp1 = (port, p, pred) => async () => {
  const r = await httpGet(port, p);
  return pred(r) ? true : r.status ? `HTTP ${r.status}, ${r.body ? r.body.length : 0}-byte body` : r.error;
};
const checkH2Get = (port) => async () => {
  const r = await h2Request(port, { ':method': 'GET', ':path': '/' });
  return okBody(r) ? true : r.status ? `HTTP/2 ${r.status}, ${r.body ? r.body.length : 0}-byte body` : r.error;
};
const checkGrpc = (port) => async () => {
  const r = await grpcProbe(port);
  return r.ok ? true : r.why;
};

// ================================================================ configs

function wicketYaml(upstreams, routes) {
  return [
    '# generated by native-bench/h2-bench.js',
    `workers: ${S.workers}`,
    `listen: { http: { host: 127.0.0.1, port: ${PORTS.wicketHttp} }, h2c: { host: 127.0.0.1, port: ${PORTS.wicketH2c} } }`,
    `admin: { host: 127.0.0.1, port: ${PORTS.wicketAdmin} }`,
    'log: { level: warn, access: false }',
    'upstreams:',
    ...upstreams.map((u) => `  ${u}`),
    'routes:',
    ...routes.map((r) => `  - ${r}`),
    '',
  ].join('\n');
}

function nginxConf(tmp, nginxBin) {
  const v = spawnSync(nginxBin, ['-V'], { encoding: 'utf8', timeout: 5000 });
  const build = `${v.stdout || ''}${v.stderr || ''}`;
  const has = (mod) => !build.includes(`--without-http_${mod}_module`);
  const t = (n) => path.join(tmp, n);
  return [
    '# generated by native-bench/h2-bench.js',
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
    '    keepalive_requests 1000000;   # also caps requests per HTTP/2 connection (default 1000)',
    '    upstream up {',
    `        server 127.0.0.1:${PORTS.upstream};`,
    `        keepalive ${S.h2.pool};`,
    '        keepalive_requests 1000000;',
    '        keepalive_timeout 60s;',
    '    }',
    '    server {',
    `        listen 127.0.0.1:${PORTS.nginx} http2;   # h2c with prior knowledge (nginx 1.22 syntax)`,
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

// ================================================================ starting things

async function startWicket(tmp, configs, key, yaml, probe) {
  const cfgPath = path.join(tmp, `${key}.yaml`);
  configs[key] = yaml;
  fs.writeFileSync(cfgPath, yaml);
  const c = startChild('wicket', process.execPath, [WICKET_CLI, 'start', '--config', cfgPath]);
  await waitReady(c, 'wicket', [['admin GET /healthz', checkHttp1(PORTS.wicketAdmin, '/healthz', (r) => r.status === 200)], probe]);
  return c;
}

async function startGrpcUpstream() {
  const c = startChild('grpc-upstream', process.execPath, [fileURLToPath(import.meta.url), '--grpc-upstream', String(PORTS.grpcUpstream)], { ipc: true });
  await waitReady(c, 'grpc-upstream', [['gRPC unary', checkGrpc(PORTS.grpcUpstream)]]);
  return c;
}

let countSeq = 0;
/** The gRPC upstream's counters over IPC: { calls, badRequests }, or null. */
function grpcCounts(c, timeoutMs = 3000) {
  return new Promise((resolve) => {
    if (!c.proc.connected) return resolve(null);
    const seq = ++countSeq;
    const onMsg = (m) => {
      if (m && m.type === 'count' && m.seq === seq) {
        clearTimeout(timer);
        c.proc.off('message', onMsg);
        resolve({ calls: m.calls, badRequests: m.badRequests });
      }
    };
    const timer = setTimeout(() => {
      c.proc.off('message', onMsg);
      resolve(null);
    }, timeoutMs);
    c.proc.on('message', onMsg);
    c.proc.send({ type: 'count', seq });
  });
}

async function startHttpUpstream() {
  const c = startChild('upstream', process.execPath, [path.join(HERE, 'upstream.js'), String(PORTS.upstream), '127.0.0.1', String(BODY_BYTES)], { ipc: true });
  await waitReady(c, 'upstream', [['GET /', checkHttp1(PORTS.upstream, '/', okBody)]]);
  return c;
}

async function startNginx(tools, tmp, configs) {
  const cfgPath = path.join(tmp, 'nginx.conf');
  configs.nginx = nginxConf(tmp, tools.nginx);
  fs.writeFileSync(cfgPath, configs.nginx);
  const args = ['-p', tmp + '/', '-e', path.join(tmp, 'nginx-error.log'), '-c', cfgPath];
  const t = spawnSync(tools.nginx, ['-t', '-q', ...args], { encoding: 'utf8', timeout: 10_000 });
  if (t.status !== 0) throw new StartError(`nginx -t rejected the generated config:\n${t.stdout}${t.stderr}\n${configs.nginx}`);
  const c = startChild('nginx', tools.nginx, args);
  await waitReady(c, 'nginx', [['h2c GET /', checkH2Get(PORTS.nginx)]]);
  return c;
}

// ================================================================ h2load

const UNIT_MS = { us: 1e-3, ms: 1, s: 1000 };

function parseH2load(text) {
  const out = { rps: null, requests: null, counts: null, status: null, reqTime: null };
  const fin = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(text);
  if (fin) out.rps = Number(fin[2]);
  const rq = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  if (rq) {
    out.counts = { total: +rq[1], started: +rq[2], done: +rq[3], succeeded: +rq[4], failed: +rq[5], errored: +rq[6], timeout: +rq[7] };
    out.requests = out.counts.succeeded;
  }
  const sc = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (sc) out.status = { '2xx': +sc[1], '3xx': +sc[2], '4xx': +sc[3], '5xx': +sc[4] };
  const v = '([\\d.]+)(us|ms|s)';
  const rt = new RegExp(`time for request:\\s+${v}\\s+${v}\\s+${v}\\s+${v}`).exec(text);
  if (rt) {
    const ms = (i) => Number(rt[i]) * UNIT_MS[rt[i + 1]];
    out.reqTime = { minMs: ms(1), maxMs: ms(3), meanMs: ms(5), sdMs: ms(7) };
  }
  return out;
}

/** p50/p99 of request time (ms) from h2load's --log-file (start us, status, duration us per line). */
function latencyFromLog(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const d = [];
  let failedRows = 0;
  let from = 0;
  while (from < text.length) {
    let nl = text.indexOf('\n', from);
    if (nl < 0) nl = text.length;
    const t1 = text.indexOf('\t', from);
    const t2 = t1 < 0 ? -1 : text.indexOf('\t', t1 + 1);
    if (t2 > 0 && t2 < nl) {
      const status = Number(text.slice(t1 + 1, t2));
      const us = Number(text.slice(t2 + 1, nl));
      if (status >= 200 && status < 400 && Number.isFinite(us)) d.push(us);
      else failedRows++;
    }
    from = nl + 1;
  }
  if (d.length === 0) return null;
  const a = Float64Array.from(d).sort();
  const pct = (p) => a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)] / 1000;
  return { p50Ms: pct(50), p90Ms: pct(90), p99Ms: pct(99), samples: a.length, failedRows };
}

/**
 * One bounded h2load run. kind 'grpc': POST of one gRPC frame with the gRPC headers; kind 'get': GET /.
 */
async function runH2load(tools, label, port, kind, duration, tmp) {
  const load = kind === 'grpc' ? S.grpc : S.h2;
  const url = `http://127.0.0.1:${port}${kind === 'grpc' ? GRPC_PATH : '/'}`;
  const args = ['-t1', `-c${load.clients}`, `-m${load.streams}`, `-D${duration.seconds}`];
  if (kind === 'grpc') args.push('-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', path.join(tmp, 'grpc-request.bin'));
  const logFile = path.join(tmp, `h2load-${label.replace(/[^a-z0-9-]/gi, '_')}.log`);
  if (S.latencyLog) args.push(`--log-file=${logFile}`);
  args.push(url);
  const c = startChild(`h2load:${label}`, tools.h2load, args);
  let timedOut = false;
  // Hard bound: h2load's own -D plus a margin; then the whole group is killed.
  const limit = duration.seconds + 30;
  const timer = setTimeout(() => {
    timedOut = true;
    signalGroup(c, 'SIGKILL');
  }, limit * 1000);
  await c.exitPromise;
  clearTimeout(timer);
  await stopChild(c, 1000);
  const parsed = parseH2load(c.stdout);
  const lat = S.latencyLog ? latencyFromLog(logFile) : null;
  fs.rmSync(logFile, { force: true });
  let error = null;
  if (timedOut) error = `h2load did not finish within ${limit}s and was killed`;
  else if (c.code !== 0) error = `h2load exited with code ${c.code} signal ${c.signal}: ${c.stderr.trim()}`;
  else if (parsed.rps === null || parsed.counts === null) error = 'could not parse h2load output';
  else if (parsed.counts.succeeded === 0) error = 'no request succeeded';
  const errs = parsed.counts ? { failed: parsed.counts.failed, errored: parsed.counts.errored, timeout: parsed.counts.timeout } : {};
  if (parsed.status) Object.assign(errs, { '4xx': parsed.status['4xx'], '5xx': parsed.status['5xx'] });
  const errorTotal = parsed.counts ? parsed.counts.failed + parsed.counts.errored + parsed.counts.timeout : 0;
  return {
    command: `h2load ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`,
    ...parsed,
    p50Ms: lat?.p50Ms ?? null,
    p99Ms: lat?.p99Ms ?? null,
    latency: lat,
    errors: errs,
    errorTotal,
    error,
    raw: c.stdout + (c.stderr ? `\n[stderr]\n${c.stderr}` : ''),
  };
}

function errorsCell(r) {
  if (r.error) return 'FAILED';
  const parts = Object.entries(r.errors || {})
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k}=${v}`);
  if (r.grpcUnverified > 0) parts.push(`not-from-server=${r.grpcUnverified}`);
  if (r.badRequests > 0) parts.push(`bad-request=${r.badRequests}`);
  return parts.length ? parts.join(' ') : '0';
}

// ================================================================ one benchmark: interleaved rounds

/**
 * contestants: [{ name, port, kind, cpuOf: [[column, child]], after?: async (res) => void }]
 * ratio: [numeratorName, denominatorName, label]
 */
async function runRounds(bench, tools, tmp, contestants, procs, ratio) {
  const checkAlive = () => {
    for (const [n, c] of Object.entries(procs)) {
      if (c.exited) throw new StartError(`${n} died during the benchmark (code ${c.code}, signal ${c.signal}).\n----- output (verbatim) -----\n${c.output}\n-----------------------------`);
    }
  };
  if (S.warmup.seconds > 0) {
    for (const k of contestants) {
      if (stopping) return null;
      log(`[${bench}] warm-up ${k.name} (${S.warmup.arg}, discarded)`);
      const w = await runH2load(tools, `warmup-${bench}-${k.name}`, k.port, k.kind, S.warmup, tmp);
      if (w.error || w.errorTotal) log(`  warm-up ${k.name}: ${w.error || `errors ${errorsCell(w)}`}`);
      checkAlive();
    }
  }
  const names = contestants.map((k) => k.name);
  const rounds = [];
  for (let r = 0; r < S.rounds; r++) {
    const order = contestants.map((_, i) => contestants[(i + r) % contestants.length]);
    log(`[${bench}] round ${r + 1}/${S.rounds}: ${order.map((k) => k.name).join(' -> ')}`);
    const results = [];
    for (const k of order) {
      if (stopping) return null;
      if (S.cooldownSeconds > 0) await sleep(S.cooldownSeconds * 1000);
      log(`  h2load ${k.name} ...`);
      const before = await k.before?.();
      const cpu0 = Object.fromEntries(k.cpuOf.map(([col, c]) => [col, groupCpuSeconds(c.pid)]));
      const res = await runH2load(tools, `${bench}-${k.name}`, k.port, k.kind, S.duration, tmp);
      const cpu1 = Object.fromEntries(k.cpuOf.map(([col, c]) => [col, groupCpuSeconds(c.pid)]));
      if (stopping) return null;
      res.cpuUsPerReq = {};
      for (const [col] of k.cpuOf) {
        res.cpuUsPerReq[col] = cpu0[col] !== null && cpu1[col] !== null && res.requests ? ((cpu1[col] - cpu0[col]) * 1e6) / res.requests : null;
      }
      if (k.after) await k.after(res, before);
      results.push({ name: k.name, load1: os.loadavg()[0], ...res });
      if (res.error) log(`  ${k.name}: ${res.error}`);
      checkAlive();
    }
    const num = results.find((x) => x.name === ratio[0]);
    const den = results.find((x) => x.name === ratio[1]);
    const ratioValue = num && den && !num.error && !den.error && den.rps ? num.rps / den.rps : null;
    rounds.push({ round: r + 1, order: order.map((k) => k.name), results, ratio: ratioValue });
  }
  return { names, rounds };
}

function cpuColumns(contestants) {
  const cols = [];
  for (const k of contestants) for (const [col] of k.cpuOf) if (!cols.includes(col)) cols.push(col);
  return cols;
}

function printBench(title, bench, contestants, out, ratio) {
  const cols = cpuColumns(contestants);
  const headers = ['round', 'name', 'rps', 'p50 ms', 'p99 ms', 'mean ms', 'sd ms', ...cols.map((c) => `${c} cpu us/req`), 'load1', 'errors'];
  const rows = [];
  for (const rd of out.rounds) {
    for (const n of out.names) {
      const x = rd.results.find((y) => y.name === n);
      rows.push([String(rd.round), n, fmt(x.rps, 0), fmt(x.p50Ms, 2), fmt(x.p99Ms, 2), fmt(x.reqTime?.meanMs, 2), fmt(x.reqTime?.sdMs, 2), ...cols.map((c) => fmt(x.cpuUsPerReq?.[c], 1)), fmt(x.load1, 1), errorsCell(x)]);
    }
  }
  console.log(`\n${title}`);
  console.log(renderTable(headers, rows));
  const ratios = out.rounds.map((rd) => rd.ratio);
  console.log(`\n${ratio[2]} per round: ${ratios.map((x) => fmt(x, 2)).join(' ')}  -> median ${fmt(median(ratios), 2)}`);
  const med = out.names.map((n) => {
    const runs = out.rounds.map((rd) => rd.results.find((y) => y.name === n)).filter((x) => x && !x.error);
    const m = {
      name: n,
      runs: runs.length,
      rps: median(runs.map((x) => x.rps)),
      p50Ms: median(runs.map((x) => x.p50Ms)),
      p99Ms: median(runs.map((x) => x.p99Ms)),
      meanMs: median(runs.map((x) => x.reqTime?.meanMs)),
      cpuUsPerReq: Object.fromEntries(cols.map((c) => [c, median(runs.map((x) => x.cpuUsPerReq?.[c]))])),
      errors: runs.reduce((a, x) => a + x.errorTotal + (x.grpcUnverified || 0) + (x.badRequests || 0), 0),
      failedRuns: out.rounds.length - runs.length,
    };
    return m;
  });
  console.log(`\nMedians over ${S.rounds} round(s)`);
  console.log(
    renderTable(
      ['name', 'median rps', 'median p50 ms', 'median p99 ms', 'median mean ms', ...cols.map((c) => `${c} cpu us/req`), 'errors (all rounds)'],
      med.map((m) => [m.name, fmt(m.rps, 0), fmt(m.p50Ms, 2), fmt(m.p99Ms, 2), fmt(m.meanMs, 2), ...cols.map((c) => fmt(m.cpuUsPerReq[c], 1)), m.failedRuns ? `${m.errors} (+${m.failedRuns} failed run)` : String(m.errors)]),
    ),
  );
  const medianRatio = median(ratios);
  console.log(`median ${ratio[2]}: ${fmt(medianRatio, 2)}`);
  if (med.some((m) => m.errors > 0 || m.failedRuns > 0)) console.log('NOTE: some runs had errors or failed: treat those rows with suspicion.');
  const loads = out.rounds.flatMap((rd) => rd.results.map((x) => x.load1));
  const ncpu = os.cpus().length;
  // h2load, the proxy and the upstream alone keep the load near 2-3.
  if (Math.max(...loads) > ncpu + 2) {
    console.log(`WARNING: the 1-min load average after the runs was ${fmt(Math.min(...loads), 1)}-${fmt(Math.max(...loads), 1)} on ${ncpu} CPUs (this benchmark alone makes about 2-3): other work was running, so rps and latency are noisy; cpu us/req holds up better.`);
  }
  console.log('');
  return { medians: med, ratios, medianRatio };
}

// ---------------------------------------------------------------- bench 1: gRPC unary

async function benchGrpc(tools, tmp, configs) {
  const L = S.grpc;
  fs.writeFileSync(path.join(tmp, 'grpc-request.bin'), grpcFrame(GRPC_REQUEST));
  const procs = {};
  try {
    log(`[grpc] starting the gRPC upstream (@grpc/grpc-js ${grpcVersion()}) on 127.0.0.1:${PORTS.grpcUpstream}`);
    procs['grpc-upstream'] = await startGrpcUpstream();
    log(`[grpc] starting wicket: h2c 127.0.0.1:${PORTS.wicketH2c} -> upstream protocol h2`);
    procs.wicket = await startWicket(
      tmp,
      configs,
      'wicket-grpc',
      wicketYaml([`grpc: { protocol: h2, targets: [ { url: "http://127.0.0.1:${PORTS.grpcUpstream}" } ] }`], [`{ name: grpc, match: { path: "/${GRPC_SERVICE}/*" }, upstream: grpc }`]),
      ['h2c gRPC unary', checkGrpc(PORTS.wicketH2c)],
    );
    for (const [n, port] of [
      ['direct', PORTS.grpcUpstream],
      ['wicket', PORTS.wicketH2c],
    ]) {
      const p = await grpcProbe(port);
      log(`[grpc] probe ${n} (POST ${GRPC_PATH} on :${port}): ${p.ok ? 'OK, ' : 'FAILED, '}${p.why}`);
      if (!p.ok) throw new StartError(`gRPC probe ${n} failed: ${p.why}`);
    }
    const up = procs['grpc-upstream'];
    // The upstream counts the calls it answered: h2load's succeeded must all be among them.
    const before = () => grpcCounts(up);
    const after = (port) => async (res, b) => {
      const a = await grpcCounts(up);
      if (!a || !b) {
        res.serverCalls = null;
        return;
      }
      res.serverCalls = a.calls - b.calls;
      res.badRequests = a.badRequests - b.badRequests;
      res.grpcUnverified = Math.max(0, (res.counts?.succeeded ?? 0) - res.serverCalls);
      res.probeAfter = await grpcProbe(port); // one call checked by hand after every run
    };
    const contestants = [
      { name: 'direct', port: PORTS.grpcUpstream, kind: 'grpc', cpuOf: [['upstream', up]], before, after: after(PORTS.grpcUpstream) },
      {
        name: 'wicket',
        port: PORTS.wicketH2c,
        kind: 'grpc',
        cpuOf: [
          ['wicket', procs.wicket],
          ['upstream', up],
        ],
        before,
        after: after(PORTS.wicketH2c),
      },
    ];
    log(`[grpc] h2load -t1 -c${L.clients} -m${L.streams} -D${S.duration.seconds} POST ${GRPC_PATH} (${GRPC_REQUEST.length}-byte request, ${GRPC_REPLY_BYTES}-byte reply)`);
    const out = await runRounds('grpc', tools, tmp, contestants, procs, ['wicket', 'direct', 'wicket/direct']);
    if (!out) return null;
    for (const rd of out.rounds) for (const x of rd.results) if (x.probeAfter && !x.probeAfter.ok) log(`[grpc] round ${rd.round} ${x.name}: probe after the run FAILED: ${x.probeAfter.why}`);
    const summary = printBench(
      `gRPC unary (h2load -c${L.clients} -m${L.streams}, ${S.duration.arg} per run): direct to @grpc/grpc-js vs through Wicket (h2c -> protocol: h2)`,
      'grpc',
      contestants,
      out,
      ['wicket', 'direct', 'wicket/direct'],
    );
    console.log(`goal: wicket/direct >= 0.70 -> ${summary.medianRatio === null ? 'n/a' : summary.medianRatio >= 0.7 ? 'met' : 'NOT met'} (median ${fmt(summary.medianRatio, 2)})\n`);
    return { load: { ...L, threads: 1 }, path: GRPC_PATH, requestBytes: GRPC_REQUEST.length, replyBytes: GRPC_REPLY_BYTES, ...out, ...summary };
  } finally {
    for (const c of Object.values(procs)) await stopChild(c, c.name === 'wicket' ? 10_000 : 5000);
  }
}

// ---------------------------------------------------------------- bench 2: h2c GET, Wicket vs nginx

async function benchH2(tools, tmp, configs) {
  const L = S.h2;
  const procs = {};
  try {
    log(`[h2] starting the HTTP/1.1 upstream (uWebSockets.js, ${BODY_BYTES}-byte body) on 127.0.0.1:${PORTS.upstream}`);
    procs.upstream = await startHttpUpstream();
    log(`[h2] starting wicket: h2c 127.0.0.1:${PORTS.wicketH2c} -> HTTP/1.1 upstream, ${L.pool} connections`);
    procs.wicket = await startWicket(
      tmp,
      configs,
      'wicket-h2',
      wicketYaml([`up: { targets: [ { url: "http://127.0.0.1:${PORTS.upstream}" } ], connections: ${L.pool} }`], ['{ name: all, match: { path: "/*" }, upstream: up }']),
      ['h2c GET /', checkH2Get(PORTS.wicketH2c)],
    );
    log(`[h2] starting nginx: h2c 127.0.0.1:${PORTS.nginx} -> HTTP/1.1 upstream, keepalive ${L.pool}`);
    procs.nginx = await startNginx(tools, tmp, configs);
    const contestants = [
      { name: 'wicket', port: PORTS.wicketH2c, kind: 'get', cpuOf: [['proxy', procs.wicket]] },
      { name: 'nginx', port: PORTS.nginx, kind: 'get', cpuOf: [['proxy', procs.nginx]] },
    ];
    log(`[h2] h2load -t1 -c${L.clients} -m${L.streams} -D${S.duration.seconds} GET /`);
    const out = await runRounds('h2', tools, tmp, contestants, procs, ['wicket', 'nginx', 'wicket/nginx']);
    if (!out) return null;
    const summary = printBench(`h2c GET / (h2load -c${L.clients} -m${L.streams}, ${S.duration.arg} per run): Wicket vs nginx, both to the same HTTP/1.1 upstream`, 'h2', contestants, out, ['wicket', 'nginx', 'wicket/nginx']);
    return { load: { ...L, threads: 1 }, upstreamBodyBytes: BODY_BYTES, ...out, ...summary };
  } finally {
    for (const c of Object.values(procs)) await stopChild(c, c.name === 'wicket' ? 10_000 : 5000);
  }
}

// ================================================================ main

async function benchMain() {
  S = readSettings();
  PORTS = portMap(S.portBase);
  installHandlers();
  const startedAt = new Date();
  const tools = checkTools();
  if (!(await checkPortsFree('before start'))) process.exit(1);
  startGuard();

  const load1 = os.loadavg()[0];
  const cpus = os.cpus();
  if (load1 > 0.5 * cpus.length) log(`WARNING: 1-min load average is ${load1.toFixed(2)} on ${cpus.length} CPUs: something else is busy, numbers will be noisy.`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wicket-h2-bench-'));
  tmpDir = tmp;
  fs.chmodSync(tmp, 0o755); // nginx workers drop to 'nobody' when started as root
  const configs = {};
  log(`temp dir ${tmp}`);
  log(`benches: ${S.benches.join(', ')} | ${S.duration.arg} per run | rounds ${S.rounds} | warm-up ${S.warmup.seconds ? S.warmup.arg : 'off'} | ports ${S.portBase}..${S.portBase + 5} | p50/p99 ${S.latencyLog ? 'from h2load --log-file' : 'off'}`);

  let exitCode = 0;
  const results = {};
  try {
    if (S.benches.includes('grpc')) results.grpc = await benchGrpc(tools, tmp, configs);
    if (stopping) return;
    if (S.benches.includes('h2')) results.h2 = await benchH2(tools, tmp, configs);
    if (stopping) return;
  } catch (err) {
    exitCode = 1;
    if (stopping) return;
    if (err instanceof StartError) console.error(`\n[h2-bench] ERROR: ${err.message}`);
    else console.error('\n[h2-bench] ERROR:', err);
  } finally {
    log('stopping all children');
    await stopAll();
  }
  if (stopping) return;

  if (S.benches.length > 1 && results.grpc && results.h2) {
    console.log('Summary (medians of the per-round ratios)');
    console.log(`  gRPC unary   wicket/direct: ${fmt(results.grpc.medianRatio, 2)}  (goal >= 0.70)  per round ${results.grpc.ratios.map((x) => fmt(x, 2)).join(' ')}`);
    console.log(`  h2c GET      wicket/nginx:  ${fmt(results.h2.medianRatio, 2)}                per round ${results.h2.ratios.map((x) => fmt(x, 2)).join(' ')}\n`);
  }

  if (!(await checkPortsFree('after cleanup'))) {
    console.error('[h2-bench] ERROR: something is still holding a benchmark port after cleanup.');
    exitCode = 1;
  }
  if (Object.keys(results).length) {
    const gitRev = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).stdout?.trim() || null;
    const gitDirty = (spawnSync('git', ['status', '--porcelain'], { cwd: ROOT, encoding: 'utf8', timeout: 5000 }).stdout || '').trim() !== '';
    const report = {
      kind: 'wicket-h2-bench',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      settings: { benches: S.benches, durationSeconds: S.duration.seconds, rounds: S.rounds, warmupSeconds: S.warmup.seconds, cooldownSeconds: S.cooldownSeconds, latencyLog: S.latencyLog, grpc: S.grpc, h2: S.h2, ports: PORTS },
      environment: {
        host: os.hostname(),
        platform: `${os.type()} ${os.release()} ${os.arch()}`,
        cpuModel: cpus[0]?.model ?? null,
        cpus: cpus.length,
        memGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
        loadavgAtStart: load1,
        node: process.version,
        h2load: toolVersion(tools.h2load, ['--version']),
        nginx: tools.nginx ? toolVersion(tools.nginx, ['-v']) : null,
        grpcJs: grpcVersion(),
        git: { rev: gitRev, dirty: gitDirty },
      },
      configs,
      results,
    };
    fs.mkdirSync(RESULTS_DIR, { recursive: true });
    const file = path.join(RESULTS_DIR, `h2-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
    log(`results written to ${path.relative(process.cwd(), file) || file}`);
  }
  if (exitCode === 0 && !S.keepTmp) fs.rmSync(tmp, { recursive: true, force: true });
  else log(`temp dir kept: ${tmp}`);
  process.exit(exitCode);
}

if (process.argv[2] === '--grpc-upstream') {
  const port = Number(process.argv[3]);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error('usage: node native-bench/h2-bench.js --grpc-upstream PORT');
    process.exit(2);
  }
  grpcUpstreamMain(port).catch((err) => {
    console.error('grpc-upstream:', err);
    process.exit(1);
  });
} else {
  benchMain().catch((err) => {
    console.error('[h2-bench] fatal:', err);
    stopAll().finally(() => process.exit(1));
  });
}
