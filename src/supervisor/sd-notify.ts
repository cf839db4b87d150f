// systemd notifications (Type=notify / notify-reload). Node cannot send on a
// unix datagram socket, so Debian's `systemd-notify` sends them on our behalf
// with --pid=<supervisor pid>; the unit needs NotifyAccess=all.
import { execFile } from 'node:child_process';

export function sdNotify(...fields: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  execFile('systemd-notify', [`--pid=${process.pid}`, ...fields], { timeout: 5000 }, () => {});
}

export function monotonicUsec(): string {
  return `MONOTONIC_USEC=${(process.hrtime.bigint() / 1000n).toString()}`;
}
