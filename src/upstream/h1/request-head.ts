// The request line and header block, built and checked once per request
// before it takes a connection: a bad request must not cost a warm one.
import type { UpstreamRequest } from '../dispatch-handler.js';

/** CR, LF, NUL, or a char latin1 would truncate into one. */
const BAD_HEADER_VALUE = /[\r\n\0\u0100-\uffff]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PATH = /^[\x21-\x7e]+$/;

export interface RequestHead {
  /** latin1: one char per byte (values were turned back into bytes upstream of here). */
  readonly text: string;
  readonly chunked: boolean;
}

/** The head, or a message saying what is invalid. */
export function buildRequestHead(r: UpstreamRequest): RequestHead | string {
  if (!PATH.test(r.path) || !TOKEN.test(r.method)) return 'invalid request line';
  const h = r.headers;
  let text = `${r.method} ${r.path} HTTP/1.1\r\n`;
  let hasLength = false;
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!;
    const v = h[i + 1]!;
    if (!TOKEN.test(n) || BAD_HEADER_VALUE.test(v)) return `invalid header ${JSON.stringify(n)}`;
    if (n.length === 14 && n.toLowerCase() === 'content-length') hasLength = true;
    text += `${n}: ${v}\r\n`;
  }
  const chunked = r.body !== null && !hasLength;
  text += chunked ? 'transfer-encoding: chunked\r\n\r\n' : '\r\n';
  return { text, chunked };
}
