// The `wicket` command line, run as users run it: the built CLI in a child process.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLI, ROOT, freePorts } from './helpers/gateway.js';

const USAGE = 'usage: wicket start --config FILE | wicket validate FILE | wicket version';
const EXAMPLE = join(ROOT, 'config/gateway.yaml');
const PKG_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

// WICKET_* variables override config fields: keep the runner's out of it.
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WICKET_')));

const dir = mkdtempSync(join(tmpdir(), 'wicket-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function wicket(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: ENV, timeout: 30_000 });
}

/** An invalid config: an unknown upstream (line 11) and an unknown key (line 15); the listen ports are real and free. */
function badConfig(port: number, adminPort: number): string {
  return [
    'workers: 2',
    `listen: { http: { host: 127.0.0.1, port: ${port} } }`,
    `admin: { host: 127.0.0.1, port: ${adminPort} }`,
    'upstreams:',
    '  demo:',
    '    targets:',
    '      - { url: "http://127.0.0.1:9000" }',
    'routes:',
    '  - name: a',
    '    match: { path: /a }',
    '    upstream: nope',
    '  - name: b',
    '    match: { path: /b, methods: [GET] }',
    '    upstream: demo',
    '    timeoutz: 5',
    '',
  ].join('\n');
}

/** `FILE: path: message (line N)` -> [path, N]. */
function pathAndLine(file: string, line: string): [string, number] {
  const m = /^(.*?): (\S+): (.+) \(line (\d+)\)$/.exec(line);
  assert.ok(m, `not "FILE: path: message (line N)": ${line}`);
  assert.equal(m[1], file);
  return [m[2]!, Number(m[4])];
}

test('wicket validate: the example config is valid (exit 0)', () => {
  const r = wicket('validate', EXAMPLE);
  assert.equal(r.status, 0, r.stderr);
  // Counts left open: the example grows with the features.
  assert.ok(r.stdout.startsWith(`ok: ${EXAMPLE} (`), r.stdout);
  assert.match(r.stdout, /\(\d+ routes, \d+ upstreams\)\n$/);
  assert.equal(r.stderr, '');
});

test('wicket validate: a bad file exits 1 with one "path: message (line N)" line per error', async () => {
  const [port, adminPort] = await freePorts(2);
  const file = join(dir, 'bad-validate.yaml');
  writeFileSync(file, badConfig(port!, adminPort!));
  const r = wicket('validate', file);
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => pathAndLine(file, l)),
    [
      ['routes[0].upstream', 11],
      ['routes[1].timeoutz', 15],
    ],
  );
  assert.match(lines[0]!, /unknown upstream "nope"/);
  assert.match(lines[1]!, /unknown key "timeoutz"/);
});

test('wicket validate: a missing file exits 1 and says why', () => {
  const file = join(dir, 'does-not-exist.yaml');
  const r = wicket('validate', file);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /cannot read config file .*does-not-exist\.yaml: ENOENT/);
});

test('wicket start: an invalid file exits 1 with the errors and never listens', async () => {
  const [port, adminPort] = await freePorts(2);
  const file = join(dir, 'bad-start.yaml');
  writeFileSync(file, badConfig(port!, adminPort!));
  const proc = spawn(process.execPath, [CLI, 'start', '--config', file], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  let alive = true;
  void exited.then(() => (alive = false));
  // Probe both ports for as long as the process lives: nothing may accept.
  const accepted: number[] = [];
  const probe = (p: number) =>
    new Promise<void>((resolve) => {
      const s = net.connect(p, '127.0.0.1');
      s.once('connect', () => {
        accepted.push(p);
        s.destroy();
        resolve();
      });
      s.once('error', () => resolve());
    });
  const deadline = Date.now() + 20_000;
  while (alive && Date.now() < deadline) {
    await Promise.all([probe(port!), probe(adminPort!)]);
    await new Promise((r) => setTimeout(r, 10));
  }
  if (alive) proc.kill('SIGKILL');
  const code = await exited;
  await Promise.all([probe(port!), probe(adminPort!)]);
  assert.equal(code, 1, stdout + stderr);
  assert.deepEqual(accepted, [], 'a port accepted a connection');
  const lines = stderr.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => pathAndLine(file, l)),
    [
      ['routes[0].upstream', 11],
      ['routes[1].timeoutz', 15],
    ],
  );
  assert.doesNotMatch(stdout, /listening|wicket ready/);
});

/** Runs `wicket start` on a valid config whose `busy` port is held by another (non-SO_REUSEPORT) socket. */
async function startWithBusyPort(which: 'http' | 'admin') {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const held = (holder.address() as net.AddressInfo).port;
  try {
    const [free] = await freePorts(1);
    const port = which === 'http' ? held : free!;
    const adminPort = which === 'admin' ? held : free!;
    const file = join(dir, `busy-${which}.yaml`);
    writeFileSync(
      file,
      [
        'workers: 2',
        `listen: { http: { host: 127.0.0.1, port: ${port} } }`,
        `admin: { host: 127.0.0.1, port: ${adminPort} }`,
        'routes:',
        '  - name: hello',
        '    match: { path: /hello }',
        '    respond: { status: 200, body: "hi" }',
        '',
      ].join('\n'),
    );
    const proc = spawn(process.execPath, [CLI, 'start', '--config', file], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((r) => proc.once('exit', (c, s) => r([c, s])));
    clearTimeout(timer);
    return { code, signal, out, held };
  } finally {
    await new Promise((r) => holder.close(r));
  }
}

test('wicket start: exits 1 (not 0) when the proxy port is taken', async () => {
  const r = await startWithBusyPort('http');
  assert.equal(r.signal, null, `still running after 20 s:\n${r.out}`);
  assert.match(r.out, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${r.held}`));
  assert.equal(r.code, 1, `a start that failed must not exit 0:\n${r.out}`);
});

test('wicket start: exits 1 (not 0) when the admin port is taken', async () => {
  const r = await startWithBusyPort('admin');
  assert.equal(r.signal, null, `still running after 20 s:\n${r.out}`);
  assert.match(r.out, /EADDRINUSE/);
  assert.equal(r.code, 1, `a start that failed must not exit 0:\n${r.out}`);
});

test('wicket version: prints the package version', () => {
  const r = wicket('version');
  assert.equal(r.status, 0);
  assert.equal(r.stdout, `wicket ${PKG_VERSION} (node ${process.version})\n`);
  assert.equal(r.stderr, '');
});

test('wicket: an unknown command exits 2 with the usage', () => {
  const r = wicket('frobnicate');
  assert.equal(r.status, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `${USAGE}\n`);
});

test('wicket: no command, or a command missing its argument, exits 2 with the usage', () => {
  for (const args of [[], ['validate'], ['start'], ['start', '--config']]) {
    const r = wicket(...args);
    assert.equal(r.status, 2, `wicket ${args.join(' ')}`);
    assert.equal(r.stderr, `${USAGE}\n`, `wicket ${args.join(' ')}`);
  }
});
