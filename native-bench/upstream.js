#!/usr/bin/env node
// Benchmark upstream: a fast HTTP/1.1 origin on uWebSockets.js.
//
//   node native-bench/upstream.js PORT [HOST=127.0.0.1] [BODY_BYTES=100]
//
// Every request (any method, any path) gets `200` with a fixed BODY_BYTES body,
// `content-type: text/plain`, keep-alive (HTTP/1.1 default). Request bodies are
// drained before answering, so it is safe for POST/PUT too.
//
// The port is bound with LIBUS_LISTEN_EXCLUSIVE_PORT (no SO_REUSEPORT), so a
// stray process already on the port makes this fail loudly instead of silently
// sharing the traffic.
//
// When started with an IPC channel (child_process.fork / spawn with 'ipc'), it
// sends { type: 'ready', port } once listening and exits when the parent's IPC
// channel closes, so it never outlives the harness that started it.
import uWS from 'uWebSockets.js';

const port = Number(process.argv[2]);
const host = process.argv[3] || '127.0.0.1';
const bodyBytes = process.argv[4] === undefined ? 100 : Number(process.argv[4]);

if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node native-bench/upstream.js PORT [HOST=127.0.0.1] [BODY_BYTES=100]');
  process.exit(2);
}
if (!Number.isInteger(bodyBytes) || bodyBytes < 0) {
  console.error(`upstream: invalid BODY_BYTES ${process.argv[4]}`);
  process.exit(2);
}

// Printable, deterministic body: "0123456789" repeated, ending in a newline.
const BODY = Buffer.alloc(bodyBytes, '0123456789');
if (bodyBytes > 0) BODY[bodyBytes - 1] = 0x0a;

function reply(res) {
  res.writeStatus('200 OK').writeHeader('content-type', 'text/plain').end(BODY);
}

const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

const app = uWS.App().any('/*', (res, req) => {
  const method = req.getMethod().toLowerCase();
  const hasBody =
    method !== 'get' &&
    method !== 'head' &&
    (req.getHeader('transfer-encoding') !== '' || Number(req.getHeader('content-length') || 0) > 0);
  if (!hasBody) {
    reply(res);
    return;
  }
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((_chunk, isLast) => {
    if (isLast && !aborted) res.cork(() => reply(res));
  });
});

let listenSocket = null;
app.listen(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (token) => {
  if (!token) {
    console.error(`upstream: cannot listen on ${host}:${port} (port in use?)`);
    process.exit(1);
  }
  listenSocket = token;
  console.log(`upstream: listening on http://${host}:${port}/ (${bodyBytes}-byte body)`);
  if (process.send) process.send({ type: 'ready', port });
});

function shutdown() {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.send) process.on('disconnect', shutdown);
