import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GrpcMessageLimit } from './grpc.js';
import { ERRORS, GrpcStatus } from './errors.js';

const frame = (n: number) => {
  const b = Buffer.alloc(5 + n, 1);
  b[0] = 0;
  b.writeUInt32BE(n, 1);
  return b;
};

test('GrpcMessageLimit: per message, across any chunking; many messages under the limit pass', () => {
  const stream = Buffer.concat(Array.from({ length: 50 }, () => frame(100)));
  for (const cut of [1, 3, 5, 7, 64, 1000]) {
    const l = new GrpcMessageLimit(100);
    for (let i = 0; i < stream.length; i += cut) assert.ok(l.check(stream.subarray(i, i + cut)), `cut ${cut}`);
  }
  const l = new GrpcMessageLimit(100);
  assert.ok(l.check(frame(100)));
  assert.equal(l.check(Buffer.concat([frame(10), frame(101).subarray(0, 7)])), false);
});

test('every error code has an HTTP status and a gRPC status; auth codes map to UNAUTHENTICATED / PERMISSION_DENIED', () => {
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.ok(spec.status >= 400 && spec.status < 600, code);
    assert.ok(Number.isInteger(spec.grpc), code);
  }
  assert.equal(ERRORS.WICKET_ERR_UNAUTHENTICATED.grpc, GrpcStatus.UNAUTHENTICATED);
  assert.equal(ERRORS.WICKET_ERR_PERMISSION_DENIED.grpc, GrpcStatus.PERMISSION_DENIED);
});
