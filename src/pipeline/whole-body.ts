// Reading a request body whole: the gateway's small-body buffering and any
// filter that must see the body (RequestContext.readBody) use this one
// reader, so a body is read at most once and the proxy sends those bytes.
import type { Readable } from 'node:stream';
import type { ErrorCode } from './errors.js';

const aborted = (): Error => Object.assign(new Error('client aborted the request body'), { code: 'WICKET_ERR_CLIENT_ABORTED' });

/**
 * The whole of a body. Bounded by the body's own reader: the listener's
 * openBody(limit) fails it with WICKET_ERR_BODY_TOO_LARGE past the route's
 * limit, so nothing here buffers more than that.
 */
export function readWhole(body: Readable): Promise<Buffer> {
  // Already failed while filters ran (too large, too slow, the client gone): its error event is past.
  if (body.destroyed) return Promise.reject(body.errored ?? aborted());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (c: Buffer) => chunks.push(c));
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    body.once('error', reject);
    body.once('close', () => {
      if (!body.readableEnded) reject(aborted());
    });
  });
}

/** The gateway's answer to a body that could not be read whole (WICKET_ERR_CLIENT_ABORTED: nobody to answer). */
export function bodyErrorCode(err: unknown): ErrorCode {
  const code = (err as { code?: string } | null)?.code;
  if (code === 'WICKET_ERR_CLIENT_ABORTED' || code === 'WICKET_ERR_BODY_TOO_LARGE' || code === 'WICKET_ERR_REQUEST_TIMEOUT') return code;
  return 'WICKET_ERR_BAD_REQUEST';
}
