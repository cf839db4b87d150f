// A private nats-server for tests: on its own free loopback port, no
// JetStream, killed (only this process, by pid) when the test stops it. The
// machine's shared NATS is never touched.
//
// When the binary is missing the tests skip, unless CI=true (then they fail).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { freePorts } from './gateway.js';

export const NATS_SERVER_BIN = process.env.WICKET_NATS_SERVER ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : '/usr/bin/nats-server');

/** Why NATS tests must skip (a string for `test(..., { skip })`), or false; throws under CI. */
export function natsSkip(): string | false {
  if (existsSync(NATS_SERVER_BIN)) return false;
  if (process.env.CI === 'true') throw new Error(`${NATS_SERVER_BIN} is missing (required when CI=true)`);
  return `${NATS_SERVER_BIN} not installed`;
}

export interface NatsServer {
  readonly port: number;
  readonly url: string;
  readonly output: string[];
  stop(): Promise<void>;
}

/** Resolves once the server sent its INFO line on a fresh connection. */
function probe(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const t = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, timeoutMs);
    s.once('data', (d) => {
      clearTimeout(t);
      s.destroy();
      resolve(d.toString().startsWith('INFO '));
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(false);
    });
  });
}

export async function startNatsServer(): Promise<NatsServer> {
  const output: string[] = [];
  for (let attempt = 0; ; attempt++) {
    const [port] = (await freePorts(1)) as [number];
    const p: ChildProcess = spawn(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (b: Buffer) => {
      for (const l of b.toString().split('\n')) if (l) output.push(l);
    };
    p.stdout!.on('data', onData);
    p.stderr!.on('data', onData);
    const stop = async (): Promise<void> => {
      if (p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    };
    const deadline = Date.now() + 10_000;
    let up = false;
    while (!up && Date.now() < deadline && p.exitCode === null) {
      up = await probe(port, 500);
      if (!up) await new Promise((r) => setTimeout(r, 20));
    }
    if (up) return { port, url: `nats://127.0.0.1:${port}`, output, stop };
    await stop();
    if (attempt >= 4) throw new Error(`nats-server did not start:\n${output.slice(-10).join('\n')}`);
  }
}
