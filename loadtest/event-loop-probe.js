// Opt-in event-loop delay probe for a gateway worker, loaded with
//   NODE_OPTIONS="--import /abs/path/loadtest/event-loop-probe.js" WICKET_ELD_PORT=NNNN
// It runs only in a cluster worker's main thread (not the supervisor, not
// hashing threads) and answers on 127.0.0.1:WICKET_ELD_PORT: GET /reset
// starts a new window, GET /read gives the window's delay percentiles in ms
// (perf_hooks.monitorEventLoopDelay). Used by loadtest/basic-flood.js; the
// gateway itself has no knob for it, so production code pays nothing.
import cluster from 'node:cluster';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const port = Number(process.env.WICKET_ELD_PORT);
if (isMainThread && cluster.isWorker && Number.isInteger(port) && port > 0) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const ms = (ns) => Math.round((ns / 1e6) * 100) / 100;
  const server = http.createServer((req, res) => {
    if (req.url === '/reset') h.reset();
    const body = JSON.stringify({ pid: process.pid, count: h.count, p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max), mean: ms(h.mean) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.on('error', (err) => process.stderr.write(`event-loop probe: ${err.message}\n`));
  server.listen(port, '127.0.0.1');
  server.unref();
}
