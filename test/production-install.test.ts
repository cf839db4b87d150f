// The production image: the Dockerfile, replayed step by step in temporary
// folders (the same COPY set, its npm ci, its build without tests, its
// `npm prune --omit=dev`, then the runtime stage's copies), must start: its
// CLI runs a gateway with a proxied route and a WebSocket route. A runtime import of a package
// that is only a devDependency kills its workers (ERR_MODULE_NOT_FOUND).
// Under CI=true an unreachable npm registry fails the test; elsewhere it skips.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { WebSocket, WebSocketServer } from 'ws';
import bcrypt from '@node-rs/bcrypt';
import { ROOT, getFresh, startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { sleep } from './helpers/wait.js';

const INSTALL_TIMEOUT_MS = 240_000;
const NETWORK_ERROR = /\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT)\b|npm error network/;

/**
 * The Dockerfile, replayed on this machine (no Docker engine runs here):
 * each stage gets a fresh folder; COPY copies exactly what the Dockerfile
 * names (from the repo, or `--from=` an earlier stage); RUN runs its command
 * there, except apt-get lines (the image's system packages: this machine's
 * python3, make and g++ stand in); ENV applies to later RUNs, with
 * npm_config_nodedir pointed at this machine's Node headers. Returns the
 * last stage's folder (the runtime image) and what the RUNs printed.
 */
function replayDockerfile(): { dir: string; log: string; skipped: string[] } {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = new Map<string, string>();
  const env: NodeJS.ProcessEnv = { ...process.env };
  let dir = '';
  let log = '';
  const skipped: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const ins = line.split(/\s+/, 1)[0]!.toUpperCase();
    const arg = line.slice(ins.length).trim();
    switch (ins) {
      case 'FROM': {
        dir = mkdtempSync(join(tmpdir(), 'wicket-image-'));
        const as = /\sAS\s+(\S+)\s*$/i.exec(line);
        if (as) stages.set(as[1]!, dir);
        break;
      }
      case 'ENV': {
        for (const m of arg.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g)) {
          const [k, v] = [m[1]!, m[2]!];
          if (k === 'npm_config_nodedir') {
            if (existsSync('/usr/include/node/node.h')) env[k] = '/usr';
          } else env[k] = v;
        }
        break;
      }
      case 'COPY': {
        const parts = arg.split(/\s+/);
        let from = ROOT;
        if (parts[0]!.startsWith('--from=')) {
          const stage = stages.get(parts.shift()!.slice('--from='.length));
          assert.ok(stage, `unknown stage in: ${line}`);
          from = stage;
        }
        const dst = parts.pop()!;
        for (const src of parts) {
          const source = join(from, src.replace(/^\/app\/?/, ''));
          assert.ok(existsSync(source), `${line}: ${src} does not exist`);
          const target = dst.endsWith('/') ? join(dir, dst, basename(src)) : join(dir, dst);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(source, target, { recursive: true });
        }
        break;
      }
      case 'RUN':
        if (/\bapt-get\b/.test(arg)) {
          skipped.push(arg);
          break;
        }
        log += execSync(arg, { cwd: dir, env, shell: '/bin/sh', timeout: INSTALL_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
        break;
      default:
        break; // WORKDIR (the stage folder), USER, EXPOSE, ENTRYPOINT, CMD
    }
  }
  return { dir, log, skipped };
}

/** A `ws` echo server on loopback. */
async function startWsEcho(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end('plain'));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Opens `url`, sends `text`, resolves with the first message back; bounded by `ms`. */
function echoOnce(url: string, text: string, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no echo from ${url} within ${ms} ms`));
    }, ms);
    ws.once('open', () => ws.send(text));
    ws.once('message', (data) => {
      clearTimeout(timer);
      ws.close(1000);
      resolve(data.toString());
    });
    ws.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      ws.terminate();
      reject(new Error(`upgrade answered ${res.statusCode}`));
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('the production image (the Dockerfile replayed: npm ci, build without tests, prune --omit=dev)', { timeout: INSTALL_TIMEOUT_MS + 120_000 }, () => {
  let prod: string | undefined;
  let skip: string | undefined;
  let installMs = 0;
  let upstream: Upstream | undefined;
  let echo: Awaited<ReturnType<typeof startWsEcho>> | undefined;
  let gw: Gateway | undefined;
  let pidsBefore: number[] = [];

  before(async () => {
    // Nothing above the image folders may supply a package their own node_modules lacks.
    for (let d = tmpdir(); ; d = dirname(d)) {
      assert.ok(!existsSync(join(d, 'node_modules')), `${d}/node_modules would hide a missing production dependency`);
      if (dirname(d) === d) break;
    }
    const t0 = Date.now();
    try {
      prod = replayDockerfile().dir;
    } catch (e) {
      const out = `${(e as { stdout?: Buffer }).stdout?.toString() ?? ''}${(e as { stderr?: Buffer }).stderr?.toString() ?? ''}`;
      if (process.env.CI !== 'true' && NETWORK_ERROR.test(out)) {
        skip = `npm registry unreachable: ${(e as Error).message.split('\n').find((l) => NETWORK_ERROR.test(l)) ?? ''}`;
        return;
      }
      throw new Error(`${(e as Error).message}\n${out.slice(-4000)}`);
    }
    installMs = Date.now() - t0;
    assert.ok(!existsSync(join(prod, 'node_modules/typescript')), 'devDependencies were installed');
    assert.ok(existsSync(join(prod, 'build/Release/wicket_shm.node')), 'the image holds the shared-memory addon');

    upstream = await startUpstream((req, res) => {
      const body = `upstream saw ${req.url}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    echo = await startWsEcho();
    // Basic auth checks passwords on piscina threads running dist/workers/: the image must hold it.
    writeFileSync(join(prod, 'users.htpasswd'), `alice:${bcrypt.hashSync('prod-secret', 4)}\n`);
    gw = await startGateway(
      `upstreams:
  web: { targets: [ { url: "${upstream.url}" } ] }
  echo: { targets: [ { url: "${echo.url}" } ] }
routes:
  - name: web
    match: { path: "/web/*" }
    upstream: web
    rewrite: { stripPrefix: /web }
  - name: ws
    match: { path: "/ws/*" }
    upstream: echo
    rewrite: { stripPrefix: /ws }
    websocket: {}
  - name: basic
    match: { path: "/basic/*" }
    upstream: web
    auth: { methods: [ { basic: { realm: staff } } ] }
auth:
  basic:
    realms: { staff: { htpasswd: "${join(prod, 'users.htpasswd')}" } }
`,
      { workers: 2, cli: join(prod, 'dist/src/cli.js') },
    );
    pidsBefore = workerPids(gw);
  });

  after(async () => {
    await gw?.stop();
    await upstream?.close();
    await echo?.close();
    if (prod) rmSync(prod, { recursive: true, force: true });
  });

  test('the copy holds no tests and no devDependencies', (t) => {
    if (skip) return t.skip(skip);
    t.diagnostic(`the Dockerfile's build took ${installMs} ms`);
    assert.ok(existsSync(join(prod!, 'dist/src/cli.js')));
    assert.ok(!existsSync(join(prod!, 'dist/src/config/load.test.js')));
    assert.ok(!existsSync(join(prod!, 'dist/test')));
    assert.ok(!existsSync(join(prod!, 'node_modules/fast-check')));
  });

  test('a proxied request gets the upstream body', async (t) => {
    if (skip) return t.skip(skip);
    assert.equal(pidsBefore.length, 2, 'two workers running');
    for (let i = 0; i < 4; i++) {
      const r = await getFresh(`${gw!.url}/web/hello?i=${i}`);
      assert.equal(r.status, 200, r.body);
      assert.equal(r.body, `upstream saw /hello?i=${i}`);
    }
  });

  test('a WebSocket route proxies to the ws upstream (echo)', async (t) => {
    if (skip) return t.skip(skip);
    for (let i = 0; i < 4; i++) {
      assert.equal(await echoOnce(`ws://127.0.0.1:${gw!.port}/ws/echo`, `ping ${i}`), `ping ${i}`);
    }
  });

  test('a basic-auth route checks passwords on the hashing threads (workers/ is in the image)', async (t) => {
    if (skip) return t.skip(skip);
    const auth = (pw: string) => ({ authorization: `Basic ${Buffer.from(`alice:${pw}`).toString('base64')}` });
    assert.equal((await fetch(`${gw!.url}/basic/x`, { headers: auth('prod-secret') })).status, 200);
    assert.equal((await fetch(`${gw!.url}/basic/x`, { headers: auth('wrong') })).status, 401);
  });

  test('no worker exited', async (t) => {
    if (skip) return t.skip(skip);
    await sleep(200); // a worker that crashed on the last request has been reaped by now
    assert.deepEqual(workerPids(gw!), pidsBefore);
    const died = gw!.output.filter((l) => l.includes('worker died') || l.includes('ERR_MODULE_NOT_FOUND'));
    assert.deepEqual(died, []);
  });
});
