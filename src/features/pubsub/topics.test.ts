import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestContext } from '../../pipeline/context.js';
import { parseClientOp, topicsAtConnect, validTopic } from './topics.js';
import { DEFAULTS } from '../../config/schema.js';
import { redactUrl } from './broker.js';

const route = (topics: { from: 'param' | 'query'; name: string } | null, maxTopics = 16) => ({ ...DEFAULTS.pubsub, topics, maxTopics });

describe('topics', () => {
  test('valid names: dot-separated tokens, at most 128 chars', () => {
    for (const t of ['news', 'a.b.c', 'user:42', 'x-y_z~1']) assert.ok(validTopic(t), t);
    for (const t of ['', 'a..b', '.a', 'a.', 'a b', 'a*', 'a>', 'é', 'x'.repeat(129), 42]) assert.ok(!validTopic(t), String(t));
  });

  test('at connect: from a path parameter or a query parameter (comma-separated, repeated, deduplicated)', () => {
    const ctx = new RequestContext(0);
    ctx.params = { topic: 'news' };
    assert.deepEqual(topicsAtConnect(ctx, route({ from: 'param', name: 'topic' })), ['news']);
    ctx.query = 't=a,b&t=c&t=a';
    assert.deepEqual(topicsAtConnect(ctx, route({ from: 'query', name: 't' })), ['a', 'b', 'c']);
    assert.equal(topicsAtConnect(ctx, route({ from: 'query', name: 't' }, 2)), null, 'over maxTopics');
    ctx.query = 't=a..b';
    assert.equal(topicsAtConnect(ctx, route({ from: 'query', name: 't' })), null);
    ctx.query = '';
    assert.equal(topicsAtConnect(ctx, route({ from: 'query', name: 't' })), null, 'missing');
    assert.deepEqual(topicsAtConnect(ctx, route(null)), []);
  });

  test('client protocol', () => {
    assert.deepEqual(parseClientOp('{"op":"subscribe","topic":"a"}'), { op: 'subscribe', topic: 'a' });
    assert.deepEqual(parseClientOp('{"op":"publish","topic":"a","data":"hi"}'), { op: 'publish', topic: 'a', data: 'hi' });
    assert.equal(parseClientOp('{"op":"publish","topic":"a"}'), 'publish needs "data" (a string)');
    assert.equal(parseClientOp('[1]'), 'not a JSON object');
    assert.equal(parseClientOp('{"op":"subscribe","topic":"a b"}'), 'invalid topic');
    assert.equal(parseClientOp('{"op":"x","topic":"a"}'), 'unknown op');
    assert.equal(parseClientOp('nope'), 'not JSON');
  });

  test('broker URLs are logged without their password', () => {
    assert.equal(redactUrl('redis://:s3cret@127.0.0.1:6379/2'), 'redis://:***@127.0.0.1:6379/2');
    assert.equal(redactUrl('nats://user:pw@127.0.0.1:4222'), 'nats://user:***@127.0.0.1:4222');
    assert.equal(redactUrl('nats://127.0.0.1:4222'), 'nats://127.0.0.1:4222');
  });
});
