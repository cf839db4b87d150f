#!/usr/bin/env node
// Baseline Node proxy for the benchmark: fastify 5 + @fastify/http-proxy.
//
//   node native-bench/fastify-proxy.js PORT UPSTREAM_URL [CONNECTIONS=64] [HOST=127.0.0.1]
//
// One process, logger off, every path proxied to UPSTREAM_URL through an undici
// Pool of CONNECTIONS keep-alive HTTP/1.1 connections (pipelining 1).
//
// With an IPC channel it sends { type: 'ready', port } once listening and exits
// when the parent's IPC channel closes.
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';

const port = Number(process.argv[2]);
const upstream = process.argv[3];
const connections = process.argv[4] === undefined ? 64 : Number(process.argv[4]);
const host = process.argv[5] || '127.0.0.1';

if (!Number.isInteger(port) || port <= 0 || port > 65535 || !upstream || !Number.isInteger(connections) || connections < 1) {
  console.error('usage: node native-bench/fastify-proxy.js PORT UPSTREAM_URL [CONNECTIONS=64] [HOST=127.0.0.1]');
  process.exit(2);
}

const app = Fastify({ logger: false });
await app.register(httpProxy, {
  upstream,
  undici: { connections, pipelining: 1, keepAliveTimeout: 60_000 },
});

try {
  await app.listen({ host, port });
} catch (err) {
  console.error(`fastify-proxy: cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
}
console.log(`fastify-proxy: listening on http://${host}:${port}/ -> ${upstream} (${connections} upstream connections)`);
if (process.send) process.send({ type: 'ready', port });

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  const force = setTimeout(() => process.exit(0), 2000);
  force.unref();
  try {
    await app.close();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.send) process.on('disconnect', shutdown);
