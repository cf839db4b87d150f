import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startNotifySocket, type NotifySocket } from '../../test/helpers/notify.js';
import { monotonicUsec, sdNotify } from './sd-notify.js';

let sock: NotifySocket;
const saved = process.env.NOTIFY_SOCKET;

before(async () => {
  sock = await startNotifySocket();
});

after(async () => {
  if (saved === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = saved;
  await sock.close();
});

test('sdNotify: nothing is sent without NOTIFY_SOCKET', async () => {
  delete process.env.NOTIFY_SOCKET;
  const from = sock.messages.length;
  sdNotify('READY=1', 'STATUS=must-not-arrive');
  // A marker sent afterwards: once it is in, the first call had its chance.
  process.env.NOTIFY_SOCKET = sock.path;
  sdNotify('STATUS=marker-1');
  await sock.waitFor('STATUS=marker-1', from);
  assert.ok(
    sock.messages.slice(from).every((m) => m.fields.STATUS !== 'must-not-arrive'),
    JSON.stringify(sock.messages.slice(from)),
  );
});

test('sdNotify: one datagram with every field, on behalf of this process', async () => {
  process.env.NOTIFY_SOCKET = sock.path;
  const from = sock.messages.length;
  sdNotify('READY=1', 'STATUS=serving with 2 workers');
  const i = await sock.waitFor('STATUS=serving with 2 workers', from);
  const m = sock.messages[i]!;
  assert.equal(m.fields.READY, '1');
  assert.equal(m.fields.MAINPID, String(process.pid));
});

test('monotonicUsec: CLOCK_MONOTONIC in microseconds', () => {
  const a = monotonicUsec();
  const b = monotonicUsec();
  assert.match(a, /^MONOTONIC_USEC=\d+$/);
  const ua = BigInt(a.slice('MONOTONIC_USEC='.length));
  const ub = BigInt(b.slice('MONOTONIC_USEC='.length));
  assert.ok(ub >= ua);
  // CLOCK_MONOTONIC never runs ahead of CLOCK_BOOTTIME (/proc/uptime), and is in µs, not ns or ms.
  const uptimeUs = BigInt(Math.ceil(Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1e6));
  assert.ok(ua <= uptimeUs + 1_000_000n, `${ua} vs uptime ${uptimeUs}`);
  assert.ok(ua > uptimeUs / 100n, `${ua} looks like ms, uptime ${uptimeUs}us`);
});
