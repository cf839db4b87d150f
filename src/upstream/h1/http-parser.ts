// Node's own llhttp binding (the parser node:http uses), reached through the
// long-stable `_http_common` module: native, strict (rejects conflicting
// Content-Length, bad chunk sizes, invalid header bytes) and without the
// JS/wasm boundary cost of a second copy of llhttp.
import { createRequire } from 'node:module';

export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize?: number, lenient?: number): void;
  execute(data: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  free(): void;
  [k: number]: unknown;
}

export interface NativeParserCtor {
  new (): NativeParser;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
}

const require = createRequire(import.meta.url);
export const HTTPParser = (require('_http_common') as { HTTPParser: NativeParserCtor }).HTTPParser;
