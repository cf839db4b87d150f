import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFraming, type Framing } from './framing.js';

const run = (cl: string[] | null, te: string[] | null): Framing => {
  const out: Framing = { contentLength: 123, chunked: true, error: 'stale' };
  checkFraming(cl, te, out);
  return out;
};
const ok = (cl: string[] | null, te: string[] | null, contentLength: number, chunked: boolean): void => {
  assert.deepEqual(run(cl, te), { contentLength, chunked, error: null }, `cl=${JSON.stringify(cl)} te=${JSON.stringify(te)}`);
};
const bad = (cl: string[] | null, te: string[] | null, why: RegExp): void => {
  const f = run(cl, te);
  assert.equal(typeof f.error, 'string', `expected an error for cl=${JSON.stringify(cl)} te=${JSON.stringify(te)}`);
  assert.match(f.error!, why);
  assert.equal(f.chunked, false);
  assert.equal(f.contentLength, -1);
};

test('no framing headers: no body declared', () => {
  ok(null, null, -1, false);
});

test('a single valid Content-Length', () => {
  ok(['0'], null, 0, false);
  ok(['5'], null, 5, false);
  ok(['005'], null, 5, false);
  ok([' 5 '], null, 5, false);
  ok(['999999999999999'], null, 999999999999999, false);
});

test('identical duplicate Content-Length headers are one length (RFC 9112 §6.3)', () => {
  ok(['5', '5'], null, 5, false);
  ok(['05', '5'], null, 5, false);
});

test('a Content-Length list is refused (uWS v20.30 drops such clients after framing the body itself)', () => {
  bad(['5, 5'], null, /list/);
  bad(['5,5', '5'], null, /list/);
  bad(['5, 6'], null, /list/);
});

test('conflicting Content-Length values are refused', () => {
  bad(['5', '6'], null, /conflicting/);
  bad(['5', '5', '0'], null, /conflicting/);
});

test('malformed Content-Length values are refused', () => {
  for (const v of ['', ' ', 'abc', '5a', 'a5', '+5', '-5', '-0', '1 5', '0x5', '1e3', '5.0', '5;', '５', '1234567890123456']) {
    bad([v], null, /malformed/);
  }
  for (const v of ['5,', ',5', '5,,5']) bad([v], null, /list/);
  bad(['5', 'x'], null, /malformed/);
});

test('Transfer-Encoding: chunked alone (any case, with OWS)', () => {
  ok(null, ['chunked'], -1, true);
  ok(null, ['Chunked'], -1, true);
  ok(null, [' CHUNKED '], -1, true);
});

test('any other Transfer-Encoding is refused', () => {
  bad(null, ['gzip, chunked'], /unsupported Transfer-Encoding/);
  bad(null, ['chunked, chunked'], /unsupported Transfer-Encoding/);
  bad(null, ['chunked', 'chunked'], /unsupported Transfer-Encoding/);
  bad(null, ['gzip', 'chunked'], /unsupported Transfer-Encoding/);
  bad(null, ['chunked, gzip'], /unsupported Transfer-Encoding/);
  bad(null, ['identity'], /unsupported Transfer-Encoding/);
  bad(null, ['gzip'], /unsupported Transfer-Encoding/);
  bad(null, [''], /unsupported Transfer-Encoding/);
  bad(null, ['chunked,'], /unsupported Transfer-Encoding/);
  bad(null, ['xchunked'], /unsupported Transfer-Encoding/);
});

test('Transfer-Encoding together with Content-Length is refused (RFC 9112 §6.1)', () => {
  bad(['5'], ['chunked'], /both/);
  bad(['0'], ['chunked'], /both/);
  bad(['5', '6'], ['chunked'], /both/);
  bad(['abc'], ['gzip'], /both/);
});

test('the output object is fully reset on every call', () => {
  const out: Framing = { contentLength: -1, chunked: false, error: null };
  checkFraming(['5', '6'], null, out);
  assert.notEqual(out.error, null);
  checkFraming(null, ['chunked'], out);
  assert.deepEqual(out, { contentLength: -1, chunked: true, error: null });
  checkFraming(['7'], null, out);
  assert.deepEqual(out, { contentLength: 7, chunked: false, error: null });
  checkFraming(null, null, out);
  assert.deepEqual(out, { contentLength: -1, chunked: false, error: null });
});
