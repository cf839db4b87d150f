// A systemd-style notify socket for tests. Node cannot bind an AF_UNIX
// SOCK_DGRAM socket, so a small python3 process binds one at a temp path and
// prints every datagram it receives as one JSON string per line. Point
// NOTIFY_SOCKET at `path`, then read `messages` (each datagram split into its
// `KEY=VALUE` fields).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SCRIPT = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("LISTENING", flush=True)
while True:
    # recv() without ancillary space: fds sent along (systemd-notify's BARRIER=1
    # pipe) are closed by the kernel, which releases the sender's barrier wait.
    data = s.recv(65536)
    print(json.dumps(data.decode("utf-8", "replace")), flush=True)
`;

export interface NotifyMessage {
  /** The datagram as received. */
  readonly raw: string;
  /** Its newline-separated `KEY=VALUE` fields. */
  readonly fields: Record<string, string>;
}

export interface NotifySocket {
  /** The socket path: the value for NOTIFY_SOCKET. */
  readonly path: string;
  /** Every datagram so far, in arrival order (BARRIER=1 datagrams excluded). */
  readonly messages: NotifyMessage[];
  /** Waits for a datagram that has `field` (e.g. 'READY=1'), at or after index `from`; resolves its index. */
  waitFor(field: string, from?: number, timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

function parse(raw: string): NotifyMessage {
  const fields: Record<string, string> = {};
  for (const line of raw.split('\n')) {
    if (line === '') continue;
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return { raw, fields };
}

function has(m: NotifyMessage, field: string): boolean {
  const eq = field.indexOf('=');
  return eq > 0 ? m.fields[field.slice(0, eq)] === field.slice(eq + 1) : field in m.fields;
}

export async function startNotifySocket(): Promise<NotifySocket> {
  const dir = mkdtempSync(join(tmpdir(), 'wicket-notify-'));
  const path = join(dir, 'notify.sock');
  const proc: ChildProcess = spawn('python3', ['-u', '-c', SCRIPT, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  const messages: NotifyMessage[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let pending = '';
  let listening: () => void = () => {};
  const bound = new Promise<void>((r) => (listening = r));
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  proc.stdout!.on('data', (b: Buffer) => {
    pending += b.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line === 'LISTENING') {
        listening();
        continue;
      }
      const m = parse(JSON.parse(line) as string);
      if (m.raw === 'BARRIER=1') continue;
      messages.push(m);
      for (const w of [...waiters]) w();
    }
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await Promise.race([
    bound,
    exited.then(() => {
      throw new Error(`notify socket helper exited: ${stderr}`);
    }),
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`notify socket helper did not start: ${stderr}`)), 10_000).unref()),
  ]);

  return {
    path,
    messages,
    waitFor(field, from = 0, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          for (let i = from; i < messages.length; i++) {
            if (has(messages[i]!, field)) {
              waiters.delete(check as () => void);
              clearTimeout(t);
              resolve(i);
              return true;
            }
          }
          return false;
        };
        const t = setTimeout(() => {
          waiters.delete(check as () => void);
          reject(new Error(`no notify datagram with ${field} after #${from}; got ${JSON.stringify(messages.map((m) => m.raw))}`));
        }, timeoutMs);
        t.unref();
        if (!check()) waiters.add(check as () => void);
      });
    },
    close: async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
