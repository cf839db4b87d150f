// Fan-out test clients: `ws` subscribers that keep every message and their
// close, the admin publish call, and GET /pubsub. Every wait is bounded.
import { WebSocket, type RawData } from 'ws';
import type { HubStats } from '../../src/features/pubsub/hub.js';
import type { Gateway } from './gateway.js';
import { until } from './wait.js';

export const TOKEN = 'pubsub-admin-token-0123456789';

export interface Sub {
  readonly ws: WebSocket;
  readonly got: { data: Buffer; binary: boolean }[];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Texts of the messages received so far. */
  texts(): string[];
}

export function subscribe(port: number, path: string): Promise<Sub> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const got: Sub['got'] = [];
    // Listening before 'open': nothing published right after the 101 is missed.
    ws.on('message', (data: RawData, binary: boolean) => got.push({ data: data as Buffer, binary }));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code: number, reason: Buffer) => r({ code, reason: reason.toString() })));
    ws.once('open', () => resolve({ ws, got, closed, texts: () => got.map((m) => m.data.toString()) }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode, body })));
    });
  });
}

/** `n` subscribers, `parallel` handshakes at a time (fresh connections: the kernel spreads them over the workers). */
export async function subscribeMany(port: number, path: string, n: number, parallel = 50): Promise<Sub[]> {
  const out: Sub[] = [];
  for (let i = 0; i < n; i += parallel) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, () => subscribe(port, path)))));
  }
  return out;
}

export function publish(adminPort: number, topic: string, body: string | Buffer, token: string | null = TOKEN): Promise<Response> {
  return fetch(`http://127.0.0.1:${adminPort}/publish?topic=${encodeURIComponent(topic)}`, {
    method: 'POST',
    body,
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
}

export async function publishOk(adminPort: number, topic: string, body: string | Buffer): Promise<{ via: string }> {
  const r = await publish(adminPort, topic, body);
  if (r.status !== 202) throw new Error(`publish: ${r.status} ${await r.text()}`);
  return (await r.json()) as { via: string };
}

/** One worker in GET /pubsub: the hub's stats and its pid. */
export type WorkerView = HubStats & { pid: number };

export async function pubsubView(gw: Gateway): Promise<{ broker: { type: string; url: string } | null; workers: WorkerView[] }> {
  const r = await fetch(`http://127.0.0.1:${gw.adminPort}/pubsub`, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (r.status !== 200) throw new Error(`GET /pubsub: ${r.status}`);
  return (await r.json()) as { broker: { type: string; url: string } | null; workers: WorkerView[] };
}

/** Waits (bounded) until every subscriber has `n` messages; false on timeout. */
export function allHave(subs: Sub[], n: number, ms: number): Promise<boolean> {
  return until(() => subs.every((s) => s.got.length >= n), ms);
}

/** Subscribers whose texts are not exactly `want`, described (at most 3). */
export function mismatches(subs: Sub[], want: string[]): string[] {
  const bad: string[] = [];
  subs.forEach((s, i) => {
    const t = s.texts();
    if (t.length !== want.length || t.some((x, j) => x !== want[j])) bad.push(`#${i}: got ${t.length} (${t.slice(0, 3).join(',')}...)`);
  });
  return bad.slice(0, 3);
}

export async function closeAll(subs: Sub[]): Promise<void> {
  for (const s of subs) if (s.ws.readyState === WebSocket.OPEN) s.ws.close(1000);
  await Promise.race([Promise.all(subs.map((s) => s.closed)), new Promise((r) => setTimeout(r, 5000))]);
}
