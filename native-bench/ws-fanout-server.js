#!/usr/bin/env node
// The baseline of fanout-bench.js: a plain `ws` server doing fan-out the usual
// way, a send per client per message. POST /burst?n=N&bytes=B sends N text
// messages of B bytes to every connected client, then answers 200.
//
//   node native-bench/ws-fanout-server.js PORT [HOST=127.0.0.1]
import http from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2]);
const host = process.argv[3] || '127.0.0.1';
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: ws-fanout-server.js PORT [HOST]');
  process.exit(2);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'POST' && url.pathname === '/burst') {
    const n = Number(url.searchParams.get('n') || '1');
    const payload = Buffer.alloc(Number(url.searchParams.get('bytes') || '100'), 'x');
    for (let i = 0; i < n; i++) for (const c of wss.clients) c.send(payload, { binary: false });
    res.end('ok');
    return;
  }
  if (url.pathname === '/clients') return void res.end(String(wss.clients.size));
  res.statusCode = 404;
  res.end();
});
const wss = new WebSocketServer({ server, perMessageDeflate: false });
server.listen(port, host, () => console.log(`ws-fanout-server listening on ${host}:${port}`));
process.on('SIGTERM', () => process.exit(0));
