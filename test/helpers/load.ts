// Bounded load loops that check every response: status, framing (the body
// is read to its end, so a bad chunk or a short Content-Length throws), the
// declared length, and the exact bytes. Failures are counted by kind; a
// claim of "zero failed requests" rests on this, never on a loop that
// discards bodies. Also: an upstream whose bodies the loop can predict.
import http from 'node:http';
import { Agent, request } from 'undici';

/** Why a request failed. `refused`: the connection was refused, so no request was ever sent. */
export type FailureKind = 'status' | 'length' | 'body' | 'framing' | 'reset' | 'refused' | 'timeout' | 'other';

export interface LoadResult {
  ok: number;
  failed: number;
  statuses: Record<number, number>;
  kinds: Partial<Record<FailureKind, number>>;
  errors: string[];
}

export interface Load {
  stop(): Promise<LoadResult>;
  result: LoadResult;
}

/** Failures other than the listed kinds. */
export function failuresExcept(r: LoadResult, allowed: readonly FailureKind[] = []): number {
  let n = 0;
  for (const [k, v] of Object.entries(r.kinds)) if (!allowed.includes(k as FailureKind)) n += v ?? 0;
  return n;
}

export function describeLoad(r: LoadResult): string {
  return JSON.stringify({ ok: r.ok, failed: r.failed, statuses: r.statuses, kinds: r.kinds, errors: r.errors });
}

function kindOf(err: unknown): FailureKind {
  const e = err as { code?: string; message?: string; cause?: { code?: string } } | null;
  const code = e?.code ?? e?.cause?.code ?? '';
  const msg = `${code} ${e?.message ?? ''}`;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || /chunk|Expected|content-length|invalid/i.test(msg)) return 'framing';
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED' || /other side closed|socket/i.test(msg)) return 'reset';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'timeout';
  return 'other';
}

/** One checked exchange: undefined when it was right, else the kind and a description. */
export type Check = () => Promise<{ status: number; failure?: [FailureKind, string] }>;

/** Runs `once` in `concurrency` loops until stopped or `maxMs` passes, counting every failure by kind. */
export function runLoop(concurrency: number, maxMs: number, once: Check, cleanup?: () => Promise<void>): Load {
  const result: LoadResult = { ok: 0, failed: 0, statuses: {}, kinds: {}, errors: [] };
  let running = true;
  const deadline = Date.now() + maxMs;
  const fail = (kind: FailureKind, what: string): void => {
    result.failed++;
    result.kinds[kind] = (result.kinds[kind] ?? 0) + 1;
    if (result.errors.length < 20) result.errors.push(`${kind}: ${what}`);
  };
  const one = async () => {
    while (running && Date.now() < deadline) {
      try {
        const r = await once();
        if (r.status > 0) result.statuses[r.status] = (result.statuses[r.status] ?? 0) + 1;
        if (r.failure === undefined) result.ok++;
        else fail(r.failure[0], r.failure[1]);
      } catch (err) {
        fail(kindOf(err), String((err as Error).message ?? err));
        // A refused connection is immediate: do not spin.
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  const loops = Array.from({ length: concurrency }, one);
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      await cleanup?.();
      return result;
    },
  };
}

/** What the checked upstream answers for `path` (predictable: see predictableUpstream). */
export function expectedBody(path: string): Buffer {
  const m = /\/(cl|chunked)\/(\d+)/.exec(path);
  const n = m === null ? 64 : Number(m[2]);
  const unit = Buffer.from(`${path.replace(/\?.*$/, '')}|`);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += unit.length) unit.copy(out, i, 0, Math.min(unit.length, n - i));
  return out;
}

/**
 * A request handler whose bodies the loop can check: `/.../cl/N` answers N
 * bytes with Content-Length, `/.../chunked/N` N bytes chunked in pieces of
 * 1 KiB, anything else 64 bytes with Content-Length; the bytes spell the path.
 */
export const predictableUpstream: http.RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    const path = req.url ?? '/';
    const body = expectedBody(path);
    if (path.includes('/chunked/')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let at = 0;
      const next = (): void => {
        if (at >= body.length) return void res.end();
        const piece = body.subarray(at, at + 1024);
        at += piece.length;
        if (res.write(piece)) setImmediate(next);
        else res.once('drain', next);
      };
      next();
    } else {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    }
  });
};

export interface CheckedLoadOptions {
  concurrency: number;
  maxMs?: number;
  /** Expected body for a path (default expectedBody: the predictable upstream's). */
  expect?: (path: string) => Buffer;
  /** A fresh connection per request (closed after it) instead of keep-alive. */
  fresh?: boolean;
}

/** Keep-alive (or fresh-connection) clients over `urls` in turn, every response checked. */
export function checkedLoad(urls: readonly string[], o: CheckedLoadOptions): Load {
  const agent = new Agent({ connections: o.fresh ? null : o.concurrency, keepAliveTimeout: 10_000, pipelining: o.fresh ? 0 : 1 });
  const expect = o.expect ?? expectedBody;
  let n = 0;
  const check: Check = async () => {
    const url = urls[n++ % urls.length]!;
    const path = new URL(url).pathname;
    const r = await request(url, { dispatcher: agent, ...(o.fresh ? { reset: true } : {}) });
    // Read to the end: a framing error throws here (counted as framing).
    const body = Buffer.from(await r.body.arrayBuffer());
    if (r.statusCode !== 200) return { status: r.statusCode, failure: ['status', `${r.statusCode} ${url} ${body.subarray(0, 120).toString()}`] };
    const cl = r.headers['content-length'];
    if (cl !== undefined && Number(cl) !== body.length) return { status: r.statusCode, failure: ['length', `${url}: content-length ${String(cl)}, body ${body.length}`] };
    const want = expect(path);
    if (!body.equals(want)) return { status: r.statusCode, failure: ['body', `${url}: ${body.length} bytes, expected ${want.length} (first difference at ${firstDiff(body, want)})`] };
    return { status: r.statusCode };
  };
  return runLoop(o.concurrency, o.maxMs ?? 30_000, check, () => agent.close());
}

function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Back-compatible: keep-alive load on one URL of the predictable upstream, every response checked. */
export function loadLoop(url: string, concurrency: number, maxMs = 30_000): Load {
  return checkedLoad([url], { concurrency, maxMs });
}
