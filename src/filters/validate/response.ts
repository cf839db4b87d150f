// Opt-in response checks (validate.responses, for testing environments): a
// sink wrapper that keeps a copy of a JSON response's body (up to
// MAX_CHECKED_BYTES) while it streams to the client unchanged, and checks it
// against the operation's response schema at the end. A mismatch is logged
// (pointers and messages, never the body) and counted; the response has
// already gone out, and it is the upstream's answer, so the client gets it
// as sent: turning it into a 502 would make a testing environment hide what
// the service really answers (docs/ARCHITECTURE.md "Request validation").
import type { RequestContext, ResponseSink, SinkListener } from '../../pipeline/context.js';
import type { Logger } from '../../observability/logger.js';
import { isJsonMedia, pickMedia, responseMedia, type Operation } from './operations.js';
import { bodyViolations, type Violation } from './problem.js';

/** Larger responses are not checked (counted as skipped). */
export const MAX_CHECKED_BYTES = 1024 * 1024;

export interface ResponseCounts {
  checked: number;
  violations: number;
  skipped: number;
}

const str = (v: Buffer | string): string => (typeof v === 'string' ? v : v.toString('latin1'));

export class CheckedSink implements ResponseSink {
  readonly #ctx: RequestContext;
  readonly #inner: ResponseSink;
  readonly #opOf: () => Operation | undefined;
  #op: Operation | undefined;
  readonly #counts: ResponseCounts;
  readonly #log: Logger;
  #status = 0;
  #chunks: Buffer[] | null = null;
  #bytes = 0;
  #validate: ((data: unknown) => boolean) & { errors?: unknown } = () => true;

  /** `opOf`: the request's operation, known once onRequest ran (after this sink was made). */
  constructor(ctx: RequestContext, inner: ResponseSink, opOf: () => Operation | undefined, counts: ResponseCounts, log: Logger) {
    this.#log = log;
    this.#ctx = ctx;
    this.#inner = inner;
    this.#opOf = opOf;
    this.#counts = counts;
  }

  get extraHeaders(): readonly string[] | null {
    return this.#inner.extraHeaders;
  }

  set extraHeaders(v: readonly string[] | null) {
    this.#inner.extraHeaders = v;
  }

  get aborted(): boolean {
    return this.#inner.aborted;
  }

  get started(): boolean {
    return this.#inner.started;
  }

  get committed(): boolean {
    return this.#inner.committed;
  }

  setListener(l: SinkListener | null): void {
    this.#inner.setListener(l);
  }

  start(status: number, raw: readonly (Buffer | string)[] | null, skip: Uint8Array | null, cl: number, noBody: boolean): void {
    this.#status = status;
    let type = '';
    let encoded = false;
    if (raw !== null) {
      for (let i = 0; i < raw.length; i += 2) {
        if (skip !== null && skip[i] === 1) continue;
        const k = str(raw[i]!).toLowerCase();
        if (k === 'content-type' && type === '') type = str(raw[i + 1]!);
        else if (k === 'content-encoding' && str(raw[i + 1]!).trim().toLowerCase() !== 'identity') encoded = true;
      }
    }
    const ct = type.split(';', 1)[0]!.trim().toLowerCase();
    const op = (this.#op = this.#opOf());
    const media = op === undefined ? undefined : responseMedia(op, status);
    const m = media === undefined || !isJsonMedia(ct) || noBody ? undefined : pickMedia({ required: false, media, anyJson: false }, ct);
    if (m?.validate) {
      if (encoded || cl > MAX_CHECKED_BYTES) this.#counts.skipped++;
      else {
        this.#validate = m.validate;
        this.#chunks = [];
      }
    }
    this.#inner.start(status, raw, skip, cl, noBody);
  }

  write(chunk: Buffer): boolean {
    const c = this.#chunks;
    if (c !== null) {
      this.#bytes += chunk.length;
      if (this.#bytes > MAX_CHECKED_BYTES) {
        this.#chunks = null;
        this.#counts.skipped++;
      } else c.push(Buffer.from(chunk)); // the listener may reuse the chunk's memory
    }
    return this.#inner.write(chunk);
  }

  end(trailers?: readonly string[] | null): void {
    this.#inner.end(trailers);
    const c = this.#chunks;
    if (c === null) return;
    this.#chunks = null;
    this.#check(Buffer.concat(c));
  }

  reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void {
    this.#inner.reply(status, headers, body, close);
  }

  abort(): void {
    this.#chunks = null;
    this.#inner.abort();
  }

  #check(buf: Buffer): void {
    this.#counts.checked++;
    const found: Violation[] = [];
    let data: unknown;
    try {
      data = JSON.parse(buf.toString('utf8'));
    } catch {
      found.push({ in: 'body', pointer: '', message: 'is not valid JSON' });
    }
    try {
      if (found.length === 0 && !this.#validate(data)) bodyViolations(this.#validate.errors as never, found);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      found.push({ in: 'body', pointer: '', message: 'is nested too deeply to be checked' });
    }
    if (found.length === 0) return;
    this.#counts.violations++;
    const ctx = this.#ctx;
    this.#log.warn(
      { reqId: ctx.requestId, route: ctx.route, operation: this.#op?.label, status: this.#status, errors: found.map((v) => ({ pointer: v.pointer, message: v.message })), violations: this.#counts.violations },
      'response does not match the API description',
    );
  }
}
