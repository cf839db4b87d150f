// gRPC-Web translation pieces: content-type modes, base64 with padding inside,
// the trailers frame, CORS decisions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ResponseSink } from '../../pipeline/context.js';
import { Base64Decoder, GrpcWebSink, decodeBase64Segments, grpcWebMode, trailerFrame } from './grpc-web.js';

test('grpcWebMode: binary, text, with a +suffix; anything else is not gRPC-Web', () => {
  assert.deepEqual(grpcWebMode('application/grpc-web'), { contentType: 'application/grpc-web', upstreamType: 'application/grpc', text: false });
  assert.deepEqual(grpcWebMode('application/grpc-web+proto'), { contentType: 'application/grpc-web+proto', upstreamType: 'application/grpc+proto', text: false });
  assert.deepEqual(grpcWebMode('application/grpc-web-text; charset=utf-8'), { contentType: 'application/grpc-web-text', upstreamType: 'application/grpc', text: true });
  assert.equal(grpcWebMode('application/grpc'), null);
  assert.equal(grpcWebMode('application/grpc-webx'), null);
  assert.equal(grpcWebMode(undefined), null);
});

test('base64 with padding between flushes decodes as the concatenation', () => {
  const parts = [Buffer.from('a'), Buffer.from('bc'), Buffer.from('defg')];
  const text = parts.map((p) => p.toString('base64')).join('');
  assert.equal(decodeBase64Segments(text).toString(), 'abcdefg');
});

test('Base64Decoder: input cut at every position decodes the same', async () => {
  const payload = Buffer.from([0, 0, 0, 0, 5, 104, 101, 108, 108, 111, 0, 0, 0, 0, 1, 33]);
  const text = Buffer.from(payload.subarray(0, 7).toString('base64') + payload.subarray(7).toString('base64'));
  for (let cut = 1; cut < text.length; cut++) {
    const d = new Base64Decoder();
    const out: Buffer[] = [];
    d.on('data', (c: Buffer) => out.push(c));
    const done = new Promise((r) => d.on('end', r));
    d.write(text.subarray(0, cut));
    d.end(text.subarray(cut));
    await done;
    assert.deepEqual(Buffer.concat(out), payload, `cut at ${cut}`);
  }
});

test('trailerFrame: flag 0x80, big-endian length, lower-case name:value lines', () => {
  const f = trailerFrame(['grpc-status', '0', 'Grpc-Message', 'ok']);
  assert.equal(f[0], 0x80);
  assert.equal(f.readUInt32BE(1), f.length - 5);
  assert.equal(f.subarray(5).toString(), 'grpc-status:0\r\ngrpc-message:ok\r\n');
});

test('GrpcWebSink: a trailers-only answer becomes the trailer frame; an answer without grpc-status is UNKNOWN', () => {
  const run = (headers: string[], trailers: string[] | null): string => {
    const out: Buffer[] = [];
    const sink = { aborted: false, started: false, extraHeaders: null, start() {}, write: (c: Buffer) => (out.push(c), true), end() {}, reply() {}, abort() {}, setListener() {} } as unknown as ResponseSink;
    const w = new GrpcWebSink(sink, grpcWebMode('application/grpc-web')!);
    w.start(200, headers, null, -1, false);
    w.end(trailers);
    return Buffer.concat(out).subarray(5).toString();
  };
  assert.equal(run(['grpc-status', '5', 'grpc-message', 'gone'], null), 'grpc-status:5\r\ngrpc-message:gone\r\n');
  assert.equal(run([], ['grpc-status', '0']), 'grpc-status:0\r\n');
  assert.match(run(['content-type', 'text/html'], null), /^grpc-status:2\r\n/);
});
