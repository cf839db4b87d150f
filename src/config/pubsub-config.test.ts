// Config of WebSocket fan-out: defaults, and semantic errors with path and line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigInvalidError, parseConfig, type ConfigError } from './load.js';

const HEAD = 'listen: { http: { port: 8080 } }\n';

function errorsOf(text: string): ConfigError[] {
  try {
    parseConfig(text, 'x.yaml', {});
  } catch (e) {
    assert.ok(e instanceof ConfigInvalidError, String(e));
    return e.errors;
  }
  assert.fail('expected ConfigInvalidError');
}

function lineOf(text: string, needle: string): number {
  return text.split('\n').findIndex((l) => l.includes(needle)) + 1;
}

describe('pubsub config', () => {
  test('defaults: a route with topics from a path parameter, no broker', () => {
    const cfg = parseConfig(`${HEAD}routes:\n  - name: live\n    match: { path: "/live/:topic" }\n    pubsub: { topics: "param:topic" }\n`, 'x.yaml', {});
    assert.deepEqual(cfg.routes[0]!.pubsub, {
      topics: { from: 'param', name: 'topic' },
      maxBufferedBytes: 1048576,
      slow: 'drop',
      clientSubscribe: false,
      clientPublish: false,
      maxTopics: 16,
      maxMessageBytes: 65536,
    });
    assert.deepEqual(cfg.pubsub, { maxMessageBytes: 1048576 });
  });

  test('a broker: channelPrefix defaults to "wicket.pubsub."', () => {
    const cfg = parseConfig(`${HEAD}pubsub: { broker: { type: nats, url: "nats://127.0.0.1:4222" } }\nroutes: []\n`, 'x.yaml', {});
    assert.deepEqual(cfg.pubsub.broker, { type: 'nats', url: 'nats://127.0.0.1:4222', channelPrefix: 'wicket.pubsub.' });
  });

  test('a pubsub route has no upstream, respond or proxy settings; topics must name a path parameter', () => {
    const text = `${HEAD}limits: { maxWebSocketMessageBytes: 1000 }
upstreams:
  api: { targets: [ { url: "http://127.0.0.1:9000" } ] }
routes:
  - name: both
    match: { path: "/a/:t" }
    upstream: api
    pubsub: { topics: "param:t" }
  - name: extra
    match: { path: "/b/:t" }
    pubsub: { topics: "param:t" }
    rewrite: { stripPrefix: /b }
  - name: noparam
    match: { path: "/c/:room" }
    pubsub: { topics: "param:topic" }
  - name: none
    match: { path: "/d" }
    pubsub: { clientPublish: true }
  - name: big
    match: { path: "/e" }
    pubsub: { topics: "query:t", maxMessageBytes: 2000 }
`;
    const errors = errorsOf(text);
    const at = (p: string) => errors.find((e) => e.path === p);
    assert.match(at('routes[0]')!.message, /exactly one of "upstream", "respond" or "pubsub"/);
    assert.equal(at('routes[1].rewrite')!.line, lineOf(text, 'rewrite: { stripPrefix: /b }'));
    assert.match(at('routes[1].rewrite')!.message, /does not apply to a pubsub route/);
    assert.match(at('routes[2].pubsub.topics')!.message, /no parameter ":topic"/);
    assert.equal(at('routes[2].pubsub.topics')!.line, lineOf(text, 'param:topic'));
    assert.match(at('routes[3].pubsub')!.message, /needs "topics"/);
    assert.match(at('routes[4].pubsub.maxMessageBytes')!.message, /limits.maxWebSocketMessageBytes/);
  });

  test('broker URL scheme must match its type; a NATS prefix ends with "."; the password is never echoed', () => {
    const text = `${HEAD}pubsub:
  broker:
    type: nats
    url: "redis://:s3cret@127.0.0.1:6379"
    channelPrefix: "app:"
routes: []
`;
    const errors = errorsOf(text);
    const url = errors.find((e) => e.path === 'pubsub.broker.url')!;
    assert.match(url.message, /nats broker URL must use nats:\/\//);
    assert.equal(url.line, lineOf(text, 'url:'));
    assert.ok(!errors.some((e) => e.message.includes('s3cret')));
    assert.match(errors.find((e) => e.path === 'pubsub.broker.channelPrefix')!.message, /must end with "\."/);
    const bad = errorsOf(`${HEAD}pubsub: { broker: { type: redis, url: "http://127.0.0.1:6379" } }\nroutes: []\n`);
    assert.match(bad.find((e) => e.path === 'pubsub.broker.url')!.message, /redis:\/\/ or rediss:\/\//);
  });

  test('schema: slow is drop or skip; topics is param:NAME or query:NAME', () => {
    const errors = errorsOf(`${HEAD}routes:\n  - name: x\n    match: { path: "/x" }\n    pubsub: { topics: "header:t", slow: wait }\n`);
    assert.ok(errors.some((e) => e.path === 'routes[0].pubsub.topics'));
    assert.ok(errors.some((e) => e.path === 'routes[0].pubsub.slow'));
  });
});
