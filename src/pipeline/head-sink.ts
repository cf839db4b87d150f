// The onResponseHeaders phase as a sink wrapper: every response head that
// goes out (a proxied one at start(), a local reply) is shown to the route's
// filters, in reverse chain order, as strings they may change.
import type { RequestContext, ResponseSink, SinkListener } from './context.js';
import type { Filter, ResponseHead } from './filter.js';
import { reportError } from './report.js';

const str = (v: Buffer | string): string => (typeof v === 'string' ? v : v.toString('latin1'));

export class HeadSink implements ResponseSink {
  /** Merged into the head the filters see (the inner sink gets none). */
  extraHeaders: readonly string[] | null = null;
  readonly #ctx: RequestContext;
  readonly #inner: ResponseSink;
  readonly #hooks: readonly Filter[];

  constructor(ctx: RequestContext, inner: ResponseSink, hooks: readonly Filter[]) {
    this.#ctx = ctx;
    this.#inner = inner;
    this.#hooks = hooks;
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
    const h: string[] = this.extraHeaders === null ? [] : [...this.extraHeaders];
    if (raw !== null) {
      for (let i = 0; i < raw.length; i += 2) {
        if (skip !== null && skip[i] === 1) continue;
        h.push(str(raw[i]!).toLowerCase(), str(raw[i + 1]!));
      }
    }
    const head = this.#run({ status, headers: h });
    this.#inner.start(head.status, head.headers, null, cl, noBody);
  }

  write(chunk: Buffer): boolean {
    return this.#inner.write(chunk);
  }

  end(trailers?: readonly string[] | null): void {
    this.#inner.end(trailers);
  }

  reply(status: number, headers: readonly string[], body: string | Buffer, close: boolean): void {
    const head = this.#run({ status, headers: [...headers] });
    this.#inner.reply(head.status, head.headers, body, close);
  }

  abort(): void {
    this.#inner.abort();
  }

  #run(head: ResponseHead): ResponseHead {
    for (const f of this.#hooks) {
      try {
        f.onResponseHeaders!(this.#ctx, head);
      } catch (err) {
        // Headers are about to go out: the response stands without this filter's change.
        reportError(err, `filter ${f.name} onResponseHeaders`, this.#ctx);
      }
    }
    return head;
  }
}
