// gRPC-Web on any listener: a gRPC-Web request (binary or text) on a route
// with `grpcWeb` goes to the route's HTTP/2 upstream as gRPC, and the answer
// comes back framed as gRPC-Web (grpc-web.ts). CORS for browsers is the cors
// filter's (grpcWeb.corsOrigins compiles to it).
import { pipeline } from 'node:stream';
import { Slot } from '../../pipeline/context.js';
import type { FilterModule } from '../../pipeline/filter.js';
import { Base64Decoder, GrpcWebSink, grpcWebMode, type GrpcWebMode } from './grpc-web.js';

const MODE = new Slot<GrpcWebMode>();

export const grpcWebFilter: FilterModule = {
  key: 'grpcWeb',
  // Its schema fragment is config/schema.ts's Route.grpcWeb.
  order: 200,
  compile(route) {
    if (route.config.grpcWeb === undefined || route.upstreamProtocol !== 'h2') return null;
    return {
      name: 'grpc-web',
      wrapSink(ctx, sink) {
        const mode = grpcWebMode(ctx.contentType);
        if (mode === null) return sink;
        ctx.set(MODE, mode);
        // Errors are answered as gRPC-Web trailers; upstream, it is gRPC.
        ctx.grpc = true;
        const h = ctx.headers;
        for (let i = 0; i < h.length; i += 2) if (h[i] === 'content-type') h[i + 1] = mode.upstreamType;
        ctx.contentType = mode.upstreamType;
        return new GrpcWebSink(sink, mode);
      },
      onRequest(ctx) {
        const mode = ctx.get(MODE);
        if (mode === undefined) return undefined;
        // Upstream the body goes as DATA frames without a length (the decoded length differs in text mode).
        ctx.contentLength = -1;
        if (mode.text && ctx.body !== null) {
          const decoded = new Base64Decoder();
          // Destroying `decoded` (the upstream gave up) destroys the client's body too.
          pipeline(ctx.body, decoded, () => {});
          ctx.body = decoded;
        }
        return undefined;
      },
    };
  },
};
