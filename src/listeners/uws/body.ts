// A request body read from uWS as a Node Readable for the upstream client,
// with backpressure: when the client's side is full, the uWS socket is
// paused; when it reads again, it is resumed (only if we paused it: resuming a
// response that was not paused drops the connection in uWS v20.30).
import { Readable } from 'node:stream';
import type { HttpResponse } from 'uWebSockets.js';
import type { RateWatched } from '../../pipeline/body-rate.js';
import { ClientAbortedError } from '../../pipeline/errors.js';

export class BodyTooLargeError extends Error {
  readonly code = 'WICKET_ERR_BODY_TOO_LARGE';
}

export class UwsBody extends Readable implements RateWatched {
  readonly #res: HttpResponse;
  readonly #limit: number;
  #received = 0;
  #paused = false;
  #ended = false;
  #gone = false;

  constructor(res: HttpResponse, limit: number) {
    super({ highWaterMark: 256 * 1024 });
    // The consumer (an upstream client) reports body errors; an error after
    // the exchange ended must not become an unhandled 'error' event.
    this.on('error', () => {});
    this.#res = res;
    this.#limit = limit;
  }

  get received(): number {
    return this.#received;
  }

  get pausedByGateway(): boolean {
    return this.#paused;
  }

  get complete(): boolean {
    return this.#ended;
  }

  /** uWS onData: the chunk is only valid during this call, so it is copied. */
  onChunk(ab: ArrayBuffer, isLast: boolean): void {
    if (this.#gone) return;
    if (ab.byteLength > 0) {
      this.#received += ab.byteLength;
      if (this.#received > this.#limit) {
        this.#gone = true;
        this.destroy(new BodyTooLargeError('request body too large'));
        return;
      }
      const more = this.push(Buffer.copyBytesFrom(new Uint8Array(ab)));
      if (!more && !isLast && !this.#paused) {
        this.#paused = true;
        this.#res.pause();
      }
    }
    if (isLast) {
      this.#ended = true;
      this.push(null);
      // Nothing more will come: never leave the client's socket paused.
      if (this.#paused) {
        this.#paused = false;
        this.#res.resume();
      }
    }
  }

  /** The client went away: uWS must not be touched any more. */
  onAborted(): void {
    this.#gone = true;
    if (!this.#ended) this.destroy(new ClientAbortedError('client aborted the request body'));
  }

  override _read(): void {
    if (this.#paused && !this.#gone) {
      this.#paused = false;
      this.#res.resume();
    }
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Dropped early (the upstream answered before reading it all): let uWS
    // read and discard the rest rather than leave the client paused.
    if (this.#paused && !this.#gone) {
      this.#paused = false;
      this.#res.resume();
    }
    this.#gone = true;
    cb(err);
  }
}
