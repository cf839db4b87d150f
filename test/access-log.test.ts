// The access log in a file: one JSON line per request from every worker,
// and SIGUSR1 to the supervisor reopens it, so logrotate can move the file
// away and the next lines land in a fresh one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getFresh, startGateway, type Gateway } from './helpers/gateway.js';
import { sleep } from './helpers/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'wicket-access-'));
const file = join(dir, 'logs', 'access.log');
let gw: Gateway;

before(async () => {
  gw = await startGateway(`routes:\n  - { name: hello, match: { path: "/hello" }, respond: { status: 200, body: hi } }\n`, { workers: 2, accessLog: true, accessFile: file });
});

after(async () => {
  await gw?.stop();
});

const lines = (f: string): { path: string; status: number }[] =>
  existsSync(f)
    ? readFileSync(f, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { path: string; status: number })
    : [];

async function waitLines(f: string, n: number): Promise<{ path: string; status: number }[]> {
  for (let i = 0; i < 60 && lines(f).length < n; i++) await sleep(100); // the log flushes at least once a second
  return lines(f);
}

test('every request is a line in the file (not on stdout); SIGUSR1 reopens it after a rotation', async () => {
  for (let i = 0; i < 6; i++) assert.equal((await getFresh(`${gw.url}/hello?a=${i}`)).status, 200);
  const first = await waitLines(file, 6);
  assert.equal(first.length, 6, JSON.stringify(first));
  assert.ok(first.every((l) => l.path === '/hello' && l.status === 200));
  assert.equal(gw.output.filter((l) => l.includes('"type":"access"')).length, 0, 'nothing on stdout');

  renameSync(file, `${file}.1`);
  gw.signal('SIGUSR1');
  await sleep(300);
  for (let i = 0; i < 4; i++) assert.equal((await getFresh(`${gw.url}/hello?b=${i}`)).status, 200);
  const second = await waitLines(file, 4);
  assert.equal(second.length, 4, 'the new file has the lines after the rotation');
  assert.equal(lines(`${file}.1`).length, 6, 'the rotated file kept its lines');
});
