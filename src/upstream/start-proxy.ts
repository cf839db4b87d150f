// The proxy's terminal phase, as every listener runs it: the route's cluster
// says which client speaks to its targets (HTTP/1.1 pools or HTTP/2 sessions).
import type { RequestContext, ResponseSink } from '../pipeline/context.js';
import { H2Call } from './h2/h2-call.js';
import { ProxyCall, type ExchangeDone, type LocalError, type ProxyRoute } from './proxy.js';

export function startProxy(ctx: RequestContext, sink: ResponseSink, route: ProxyRoute, done: ExchangeDone, fail: LocalError): void {
  if (route.cluster.protocol === 'h2') new H2Call(ctx, sink, done, fail).start(route);
  else new ProxyCall(ctx, sink, done, fail).start(route);
}
