// The upstream call contract both HTTP/1.1 clients honour (undici's Pool and
// Wicket's H1Pool): undici's handler shape, callbacks in the order they
// happen. Header lists are flat [name, value, ...] of Buffers or strings.
import type { Readable } from 'node:stream';

export interface UpstreamRequest {
  method: string;
  path: string;
  headers: string[];
  body: Readable | null;
}

export interface UpstreamHandler {
  onConnect(abort: (err?: Error) => void): void;
  onHeaders(status: number, raw: (Buffer | string)[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: unknown): void;
  onError(err: Error): void;
}

export interface UpstreamDispatcher {
  dispatch(req: UpstreamRequest, handler: UpstreamHandler): unknown;
  close(): Promise<void>;
}
