// systemd notifications (Type=notify / notify-reload). Node cannot send on a
// unix datagram socket, so Debian's `systemd-notify` sends them on our behalf
// with --pid=<supervisor pid>; the unit needs NotifyAccess=all.
import { execFile } from 'node:child_process';

// Sent one at a time so RELOADING=1 can never overtake the READY=1 before it.
let chain: Promise<void> = Promise.resolve();

export function sdNotify(...fields: string[]): void {
  if (!process.env.NOTIFY_SOCKET) return;
  chain = chain.then(
    () => new Promise<void>((resolve) => {
      execFile('systemd-notify', [`--pid=${process.pid}`, ...fields], { timeout: 5000 }, () => resolve());
    }),
  );
}

export function monotonicUsec(): string {
  return `MONOTONIC_USEC=${(process.hrtime.bigint() / 1000n).toString()}`;
}

/** Resolves once every notification so far has been handed to systemd. */
export function sdNotifyFlushed(): Promise<void> {
  return chain;
}
