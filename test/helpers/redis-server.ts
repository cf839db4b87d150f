// A private redis-server for tests: on its own free loopback port, no
// persistence, in a temporary directory; killed (only this process, by pid)
// when the test stops it. The machine's shared Redis is never touched.
//
// When the binary is missing the tests skip, unless CI=true (then they fail).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from './gateway.js';

export const REDIS_SERVER_BIN = process.env.WICKET_REDIS_SERVER ?? '/usr/bin/redis-server';

/** Why Redis tests must skip (a string for `test(..., { skip })`), or false; throws under CI. */
export function redisSkip(): string | false {
  if (existsSync(REDIS_SERVER_BIN)) return false;
  if (process.env.CI === 'true') throw new Error(`${REDIS_SERVER_BIN} is missing (required when CI=true)`);
  return `${REDIS_SERVER_BIN} not installed`;
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The running process (null while stopped). */
  readonly proc: ChildProcess | null;
  /** Everything the server printed. */
  readonly output: string[];
  /** SIGSTOP: the server keeps its connections but answers nothing. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** SIGKILL and wait for the exit (connections are reset). */
  kill(): Promise<void>;
  /** Starts again on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
  /** Kills it and removes its directory. */
  stop(): Promise<void>;
}

/** One RESP command on a fresh connection; resolves with the raw reply text. */
export function rawCommand(port: number, args: string[], timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`redis on ${port}: no reply to ${args[0]} in ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.endsWith('\r\n')) {
        clearTimeout(t);
        sock.destroy();
        resolve(buf);
      }
    });
    sock.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-redis-'));
  const output: string[] = [];
  let proc: ChildProcess | null = null;
  let port = 0;

  const launch = async (): Promise<void> => {
    const p = spawn(REDIS_SERVER_BIN, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc = p;
    const onData = (b: Buffer) => {
      for (const l of b.toString().split('\n')) if (l) output.push(l);
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`redis-server exited early (${p.exitCode ?? p.signalCode}):\n${output.slice(-10).join('\n')}`);
      try {
        if ((await rawCommand(port, ['PING'], 500)).startsWith('+PONG')) return;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING:\n${output.slice(-10).join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  const kill = async (): Promise<void> => {
    const p = proc;
    if (!p) return;
    proc = null;
    if (p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };

  // A port taken between the probe and the bind: try another.
  for (let attempt = 0; ; attempt++) {
    [port] = await freePorts(1);
    try {
      await launch();
      break;
    } catch (e) {
      await kill();
      if (attempt >= 4) throw e;
    }
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get proc() {
      return proc;
    },
    output,
    pause: () => void proc?.kill('SIGSTOP'),
    resume: () => void proc?.kill('SIGCONT'),
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
