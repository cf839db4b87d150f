// Test harness: a real Wicket (supervisor + workers) started from the built
// CLI with a generated config, on loopback ports checked free first.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const CLI = join(ROOT, 'dist/src/cli.js');

/** Ports the kernel just handed out on 127.0.0.1 (bound once, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((res, rej) => {
      const s = net.createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => res(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export interface Gateway {
  readonly port: number;
  readonly adminPort: number;
  /** 0 unless opts.h2c / opts.https. */
  readonly h2cPort: number;
  readonly httpsPort: number;
  readonly url: string;
  readonly file: string;
  readonly proc: ChildProcess;
  /** Everything the gateway printed (stdout + stderr), as lines. */
  readonly output: string[];
  /** Rewrites the config file (for SIGHUP tests). */
  writeConfig(yaml: string): void;
  signal(sig: NodeJS.Signals): void;
  waitExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits until some output line contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export interface GatewayOptions {
  workers?: number;
  env?: Record<string, string>;
  accessLog?: boolean;
  /** Sets log.accessFile (with accessLog: true). */
  accessFile?: string;
  /** Sets admin.token. */
  adminToken?: string;
  /** Also listen for h2c (HTTP/2 prior knowledge) on a free port (gw.h2cPort). */
  h2c?: boolean;
  /** Also listen for TLS (ALPN h2 + HTTP/1.1) on a free port (gw.httpsPort) with this cert and key file. */
  https?: { cert: string; key: string };
  /** The CLI to run (default: this tree's dist/src/cli.js), e.g. a production install's copy. */
  cli?: string;
}

/** `body` is the YAML for upstreams/routes etc; listen/admin/log are filled in. */
export async function startGateway(body: string, opts: GatewayOptions = {}): Promise<Gateway> {
  const [port, adminPort, h2cPort, httpsPort] = await freePorts(4);
  const extra = `${opts.h2c ? `, h2c: { host: 127.0.0.1, port: ${h2cPort} }` : ''}${opts.https ? `, https: { host: 127.0.0.1, port: ${httpsPort}, cert: "${opts.https.cert}", key: "${opts.https.key}" }` : ''}`;
  const dir = mkdtempSync(join(tmpdir(), 'wicket-test-'));
  const file = join(dir, 'gateway.yaml');
  const head = (b: string) =>
    `workers: ${opts.workers ?? 2}\nlisten: { http: { host: 127.0.0.1, port: ${port} }${extra} }\nadmin: { host: 127.0.0.1, port: ${adminPort}${opts.adminToken ? `, token: "${opts.adminToken}"` : ''} }\nlog: { level: info, access: ${opts.accessLog ?? false}${opts.accessFile ? `, accessFile: "${opts.accessFile}"` : ''} }\n${b}`;
  writeFileSync(file, head(body));
  const proc = spawn(process.execPath, [opts.cli ?? CLI, 'start', '--config', file], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const waiters: { text: string; resolve: (l: string) => void }[] = [];
  const onData = (buf: Buffer) => {
    for (const line of buf.toString().split('\n')) {
      if (!line) continue;
      output.push(line);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (line.includes(waiters[i]!.text)) {
          waiters[i]!.resolve(line);
          waiters.splice(i, 1);
        }
      }
    }
    if (process.env.WICKET_TEST_VERBOSE) process.stderr.write(buf);
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  const gw: Gateway = {
    port,
    adminPort,
    h2cPort: opts.h2c ? h2cPort! : 0,
    httpsPort: opts.https ? httpsPort! : 0,
    url: `http://127.0.0.1:${port}`,
    file,
    proc,
    output,
    writeConfig: (yaml) => writeFileSync(file, head(yaml)),
    signal: (sig) => proc.kill(sig),
    waitExit: (timeoutMs = 20_000) =>
      Promise.race([
        exited,
        new Promise<never>((_, rej) => setTimeout(() => rej(new Error('gateway did not exit in time')), timeoutMs).unref()),
      ]),
    waitFor: (text, timeoutMs = 10_000) => {
      const hit = output.find((l) => l.includes(text));
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for "${text}"\n${output.slice(-20).join('\n')}`)), timeoutMs);
        t.unref();
        waiters.push({ text, resolve: (l) => { clearTimeout(t); resolve(l); } });
      });
    },
    stop: async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      try {
        await gw.waitExit(15_000);
      } catch {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`gateway exited early (${proc.exitCode}):\n${output.join('\n')}`);
    try {
      const r = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
      if (r.status === 200) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await gw.stop();
      throw new Error(`gateway not healthy in time:\n${output.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return gw;
}

/** Live (non-zombie) worker processes of the gateway: its children running the CLI. */
export function workerPids(gw: Gateway): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) !== gw.proc.pid || state === 'Z') continue;
      // Not systemd-notify or any other helper the supervisor runs.
      if (!readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('cli.js')) continue;
      pids.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return pids.sort((a, b) => a - b);
}

/** One GET on a fresh connection (closed afterwards): lands on whichever worker the kernel picks. */
export function getFresh(url: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
  });
}
