// A request body read from a node stream (an HTTP/2 stream or an HTTP/1.1
// IncomingMessage) for the upstream client: pauses the source when the
// consumer is full, resumes it when it reads, and fails with
// WICKET_ERR_BODY_TOO_LARGE past the route's limit (or, for a gRPC stream,
// WICKET_ERR_MESSAGE_TOO_LARGE when one message is over it).
import { Readable } from 'node:stream';
import { BodyTooLargeError } from '../uws/body.js';
import { GrpcMessageLimit, MessageTooLargeError } from '../../pipeline/grpc.js';
import type { RateWatched } from '../../pipeline/body-rate.js';
import { ClientAbortedError } from '../../pipeline/errors.js';

export class StreamBody extends Readable implements RateWatched {
  readonly #src: Readable;
  readonly #limit: number;
  readonly #messages: GrpcMessageLimit | null;
  #received = 0;
  /** Paused until the consumer's first read, then whenever it is full. */
  #pausedByGateway = true;
  #complete = false;
  #gone = false;
  /** Called on the consumer's first read (HTTP/2 `Expect: 100-continue`: the 100 goes out then). */
  #onFirstRead: (() => void) | null;

  constructor(src: Readable, limit: number, onFirstRead: (() => void) | null = null, grpcMessages = false) {
    super({ highWaterMark: 256 * 1024 });
    // The consumer reports body errors; a late one must not be unhandled.
    this.on('error', () => {});
    this.#src = src;
    this.#limit = limit;
    this.#messages = grpcMessages ? new GrpcMessageLimit(limit) : null;
    this.#onFirstRead = onFirstRead;
    src.on('data', (c: Buffer) => {
      if (this.#gone) return; // dropped: the rest is read and discarded
      this.#received += c.length;
      if (this.#messages !== null) {
        if (!this.#messages.check(c)) return this.#tooLarge(new MessageTooLargeError('a gRPC message is too large'));
      } else if (this.#received > this.#limit) return this.#tooLarge(new BodyTooLargeError('request body too large'));
      if (!this.push(c)) {
        this.#pausedByGateway = true;
        src.pause();
      }
    });
    src.once('end', () => {
      this.#complete = true;
      this.push(null);
    });
    src.once('aborted', () => this.destroy(new ClientAbortedError('client aborted the request body')));
    // A stream error on the client's side (a reset): the client went away.
    src.once('error', (e: Error) => this.destroy(new ClientAbortedError(`client request body: ${e.message}`)));
    src.pause();
  }

  #tooLarge(err: Error): void {
    this.#src.pause();
    this.destroy(err);
  }

  get received(): number {
    return this.#received;
  }

  get pausedByGateway(): boolean {
    return this.#pausedByGateway;
  }

  get complete(): boolean {
    return this.#complete;
  }

  override _read(): void {
    this.#pausedByGateway = false;
    if (this.#onFirstRead !== null) {
      const f = this.#onFirstRead;
      this.#onFirstRead = null;
      f();
    }
    this.#src.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // Dropped early (the upstream answered before reading it all): drain the rest.
    this.#gone = true;
    this.#src.resume();
    cb(err);
  }
}
