// One access-log line per request.
import type { Logger } from 'pino';
import type { RequestContext } from '../pipeline/context.js';

export function logAccess(log: Logger, ctx: RequestContext): void {
  log.info({
    type: 'access',
    reqId: ctx.requestId,
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    bytes: ctx.bytesOut,
    durMs: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
    upstream: ctx.upstream || undefined,
    attempts: ctx.attempts > 1 ? ctx.attempts : undefined,
    error: ctx.errorCode || undefined,
    client: ctx.remoteAddress,
    // Who, never the credential (the path is logged without its query, where tokens may be).
    consumer: ctx.identity?.consumer,
  });
}
