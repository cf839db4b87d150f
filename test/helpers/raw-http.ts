// Raw-socket HTTP/1.1 for requests no well-behaved client would send (undici
// refuses them), and a parser that reads the replies byte for byte.
import net from 'node:net';

export interface RawResponse {
  status: number;
  /** Names in lower case, in the order they came. */
  headers: [string, string][];
  body: Buffer;
}

/** The values of header `name` (lower case), in order. */
export const header = (r: RawResponse, name: string): string[] => r.headers.filter(([n]) => n === name).map(([, v]) => v);

export interface ParseOptions {
  /** The response answers a HEAD request: no body, whatever its headers say. */
  head?: boolean;
  /** The connection has closed: a body with neither Content-Length nor Transfer-Encoding ends with the bytes. */
  closed?: boolean;
}

/** Parses one response from `buf`: null when incomplete, 'bad' when the bytes are not a response. */
export function parseOne(buf: Buffer, { head = false, closed = false }: ParseOptions = {}): { res: RawResponse; used: number } | null | 'bad' {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return buf.length >= 5 && !buf.subarray(0, 5).equals(Buffer.from('HTTP/')) ? 'bad' : null;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
  if (m === null) return 'bad';
  const status = Number(m[1]);
  const headers = lines.slice(1).map((l): [string, string] => {
    const c = l.indexOf(':');
    return [l.slice(0, c).trim().toLowerCase(), l.slice(c + 1).trim()];
  });
  const start = end + 4;
  const res: RawResponse = { status, headers, body: Buffer.alloc(0) };
  if (head || status === 204 || status === 304 || status < 200) return { res, used: start };
  const te = headers.find(([n]) => n === 'transfer-encoding');
  if (te !== undefined) {
    const parts: Buffer[] = [];
    let at = start;
    for (;;) {
      const eol = buf.indexOf('\r\n', at);
      if (eol === -1) return null;
      const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) return 'bad';
      if (size === 0) {
        const fin = buf.indexOf('\r\n\r\n', eol);
        if (fin === -1) return null;
        res.body = Buffer.concat(parts);
        return { res, used: fin + 4 };
      }
      if (buf.length < eol + 2 + size + 2) return null;
      parts.push(buf.subarray(eol + 2, eol + 2 + size));
      at = eol + 2 + size + 2;
    }
  }
  const cl = headers.find(([n]) => n === 'content-length');
  if (cl !== undefined) {
    const n = Number(cl[1]);
    if (buf.length < start + n) return null;
    res.body = buf.subarray(start, start + n);
    return { res, used: start + n };
  }
  if (!closed) return null;
  res.body = buf.subarray(start);
  return { res, used: buf.length };
}

export interface ParseResponsesOptions {
  /** The connection has closed (see ParseOptions.closed). */
  closed?: boolean;
  /** The most responses to parse (default: all that `buf` holds); the bytes after them stay in `extra`. */
  max?: number;
  /** heads[i]: response i answers a HEAD request. */
  heads?: boolean[];
  /** Leave 1xx interim responses out of `responses` (and out of `max`). */
  skipInterim?: boolean;
}

/**
 * Parses responses from `buf` until `max` of them are in, the bytes run out,
 * or they stop parsing (`bad`). `extra` holds the bytes left unparsed.
 */
export function parseResponses(buf: Buffer, opts: ParseResponsesOptions = {}): { responses: RawResponse[]; extra: Buffer; bad: boolean } {
  const max = opts.max ?? Infinity;
  const responses: RawResponse[] = [];
  let rest = buf;
  while (responses.length < max) {
    const one = parseOne(rest, { head: opts.heads?.[responses.length] ?? false, closed: opts.closed });
    if (one === null || one === 'bad') return { responses, extra: rest, bad: one === 'bad' };
    if (!opts.skipInterim || one.res.status >= 200) responses.push(one.res);
    rest = rest.subarray(one.used);
  }
  return { responses, extra: rest, bad: false };
}

export interface SendRawOptions extends Omit<ParseResponsesOptions, 'closed' | 'max'> {
  /** Responses to wait for (default 1); once they are in, stray bytes get `settleMs` to show up. */
  expect?: number;
  /** The most responses to parse (default `expect`). */
  max?: number;
  /** Settle as well once the bytes stop parsing as responses (default: wait for close or timeout). */
  settleOnBad?: boolean;
  /** Default 150. */
  settleMs?: number;
  /** Between parts, unless `waitBefore` is given. Default 50. */
  gapMs?: number;
  /** Resolves when part `i` (i > 0) may be written. */
  waitBefore?: (i: number) => Promise<void>;
  /** Default 3000. */
  timeoutMs?: number;
  /** Opens the connection (default: plain TCP to 127.0.0.1:`port`); e.g. a tls.connect for HTTP/1.1 over TLS. */
  connect?: () => net.Socket;
}

export interface RawResult {
  responses: RawResponse[];
  /** Bytes after the parsed responses. */
  extra: Buffer;
  /** The peer closed the connection (within the time limit). */
  closed: boolean;
  /** All bytes received, as latin1. */
  text: string;
}

/**
 * Writes `parts` to 127.0.0.1:`port` (`gapMs` apart, or after `waitBefore(i)`)
 * and reads until the peer closes, `expect` responses are in (plus `settleMs`
 * for stray bytes), or `timeoutMs`.
 */
export function sendRaw(port: number, parts: string | Buffer | (string | Buffer)[], opts: SendRawOptions = {}): Promise<RawResult> {
  const list = Array.isArray(parts) ? parts : [parts];
  const expect = opts.expect ?? 1;
  const parseOpts = { max: opts.max ?? expect, heads: opts.heads, skipInterim: opts.skipInterim };
  return new Promise((resolve) => {
    const s = opts.connect ? opts.connect() : net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    let settling = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const { responses, extra } = parseResponses(buf, { ...parseOpts, closed });
      resolve({ responses, extra, closed, text: buf.toString('latin1') });
    };
    const timer = setTimeout(() => finish(false), opts.timeoutMs ?? 3000);
    s.on('connect', async () => {
      for (let i = 0; i < list.length && !done; i++) {
        if (i > 0) {
          if (opts.waitBefore) await opts.waitBefore(i);
          else await new Promise((r) => setTimeout(r, opts.gapMs ?? 50));
        }
        if (!s.destroyed) s.write(list[i]!);
      }
    });
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (settling) return;
      const p = parseResponses(buf, { ...parseOpts, closed: false });
      if (p.responses.length >= expect || (opts.settleOnBad === true && p.bad)) {
        settling = true;
        setTimeout(() => finish(false), opts.settleMs ?? 150);
      }
    });
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
  });
}

/** Sends `data` and collects what comes back until close or `timeoutMs`. */
export async function rawExchange(port: number, data: string | Buffer, timeoutMs = 2000): Promise<{ text: string; closed: boolean }> {
  const { text, closed } = await sendRaw(port, data, { expect: Infinity, timeoutMs });
  return { text, closed };
}
