// `npm start` under a process manager: SIGTERM sent to the npm process (not
// to the process group) must stop the supervisor and its workers, not
// orphan them. The start script execs node, so npm's signal forwarding
// reaches the supervisor itself. Ports come from the environment overrides;
// --ignore-scripts skips the prestart build (dist/ is built by the test run).
import { alive } from './helpers/process.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { ROOT, freePorts } from './helpers/gateway.js';
import { sleep } from './helpers/wait.js';

async function until(cond: () => boolean | Promise<boolean>, ms: number, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(50);
  }
}

/** Every descendant of `pid` (from /proc). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const [c, pp] of parent) if (pp === p) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}


test('SIGTERM to `npm start` stops the supervisor and every worker', { timeout: 60_000 }, async () => {
  const [http, admin] = await freePorts(2);
  const npm = spawn('npm', ['start', '--ignore-scripts'], {
    cwd: ROOT,
    env: { ...process.env, WICKET_HTTP_PORT: String(http), WICKET_ADMIN_PORT: String(admin), WICKET_WORKERS: '2', WICKET_ACCESS_LOG: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  npm.stdout.on('data', (d: Buffer) => (out += d));
  npm.stderr.on('data', (d: Buffer) => (out += d));
  try {
    await until(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${admin}/healthz`)).status === 200;
      } catch {
        return false;
      }
    }, 20_000, () => `gateway ready under npm start\n${out}`);
    const tree = descendants(npm.pid!);
    assert.ok(tree.length >= 3, `supervisor and 2 workers under npm: ${tree.join(',')}`);
    process.kill(npm.pid!, 'SIGTERM');
    await until(() => tree.every((p) => !alive(p)), 20_000, () => `left running: ${tree.filter(alive).join(',')}\n${out}`);
    await until(() => npm.exitCode !== null || npm.signalCode !== null, 10_000, () => 'npm itself exits');
  } finally {
    for (const p of descendants(npm.pid!)) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    npm.kill('SIGKILL');
  }
});
