// The shared-memory segment's life as an operator sees it: created at start,
// removed at stop, a crashed run's segment replaced (never trusted), and a
// second gateway refused when it would share a running one's segment.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startGateway } from './helpers/gateway.js';
import { startUpstream } from './helpers/upstream.js';

let n = 0;
const uniqueName = (): string => `lifecycle-${process.pid}-${++n}`;
const shmPath = (name: string): string => `/dev/shm/wicket-${name}`;

async function withUpstream<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const up = await startUpstream((req, res) => {
    req.resume();
    res.end('ok');
  });
  try {
    return await fn(up.url);
  } finally {
    await up.close();
  }
}

const body = (name: string, url: string): string =>
  `state: { name: ${name} }\nupstreams:\n  u: { balancer: least-connections, targets: [{ url: "${url}" }] }\nroutes:\n  - { name: r, match: { path: "/*" }, upstream: u }\n`;

test('created at start, removed at a clean stop', async () => {
  await withUpstream(async (url) => {
    const name = uniqueName();
    const gw = await startGateway(body(name, url), { workers: 2 });
    assert.ok(existsSync(shmPath(name)), 'segment exists while running');
    assert.equal((await fetch(`${gw.url}/x`)).status, 200);
    await gw.stop();
    assert.equal(existsSync(shmPath(name)), false, 'segment removed at stop');
  });
});

test("a crashed run's segment is replaced at the next start, not trusted", async () => {
  await withUpstream(async (url) => {
    const name = uniqueName();
    const first = await startGateway(body(name, url), { workers: 1 });
    first.signal('SIGKILL'); // the supervisor dies without cleaning up
    await first.waitExit();
    assert.ok(existsSync(shmPath(name)), 'left behind by the crash');
    // (Its worker notices the supervisor is gone and drains on its own; the next run has its own port.)
    const second = await startGateway(body(name, url), { workers: 1 });
    try {
      const line = await second.waitFor('replaced a shared-memory segment left by an earlier run');
      assert.match(line, /owner pid \d+ is gone/);
      assert.equal((await fetch(`${second.url}/x`)).status, 200);
    } finally {
      await second.stop();
    }
    assert.equal(existsSync(shmPath(name)), false);
  });
});

test('a second gateway with a running one\'s state name is refused; the first keeps serving', async () => {
  await withUpstream(async (url) => {
    const name = uniqueName();
    const first = await startGateway(body(name, url), { workers: 1 });
    try {
      await assert.rejects(startGateway(body(name, url), { workers: 1 }), (err: Error) => {
        assert.match(err.message, /gateway exited early \(1\)/);
        assert.match(err.message, /belongs to a running gateway \(pid \d+\); give this instance its own state\.name/);
        return true;
      });
      assert.ok(existsSync(shmPath(name)), "the refused start did not remove the running gateway's segment");
      assert.equal((await fetch(`${first.url}/x`)).status, 200);
    } finally {
      await first.stop();
    }
  });
});
