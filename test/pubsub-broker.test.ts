// WebSocket fan-out across two gateways (two supervisors, 2 workers each)
// through a broker: Redis pub/sub and NATS, each a private server started on
// a free port (skipped without the binary, failed under CI=true). 1,000
// subscribers spread over the 4 workers get every message in order, whether
// it was published through either gateway's admin API, by a client of a
// clientPublish route, or straight to the broker by another service. With
// Redis gone, a publish answers 503.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as natsConnect } from 'nats';
import { startGateway, type Gateway } from './helpers/gateway.js';
import { rawCommand, redisSkip, startRedisServer, type RedisServer } from './helpers/redis-server.js';
import { natsSkip, startNatsServer, type NatsServer } from './helpers/nats-server.js';
import { TOKEN, allHave, closeAll, mismatches, publish, publishOk, pubsubView, subscribeMany, type Sub } from './helpers/pubsub.js';

const routes = `routes:
  - name: live
    match: { path: "/live/:topic" }
    pubsub: { topics: "param:topic" }
  - name: chat
    match: { path: "/chat/:topic" }
    pubsub: { topics: "param:topic", clientPublish: true }
`;

function brokerConfig(type: 'redis' | 'nats', url: string): string {
  return `pubsub: { broker: { type: ${type}, url: "${url}", channelPrefix: "fan.out." } }\n${routes}`;
}

/** 500 subscribers on each gateway; every worker of both holds some. */
async function spread(gws: Gateway[], path: string): Promise<Sub[]> {
  const subs: Sub[] = [];
  for (const gw of gws) {
    subs.push(...(await subscribeMany(gw.port, path, 500)));
    const per = (await pubsubView(gw)).workers.map((w) => w.subscribers);
    assert.equal(per.length, 2);
    assert.ok(per.every((n) => n > 0), `both workers of the gateway on ${gw.port} hold subscribers: ${per.join(' + ')}`);
  }
  return subs;
}

/** The shared part of both brokers' tests; `external` publishes one message straight to the broker. */
async function acrossGateways(gws: Gateway[], via: string, external: (topic: string, text: string) => Promise<void>): Promise<void> {
  const subs = await spread(gws, '/live/scores');
  const want: string[] = [];
  for (let i = 0; i < 40; i++) {
    const m = `score-${i}`;
    want.push(m);
    // Alternating gateways: each publish is taken by the broker before the next is sent, so there is one order.
    assert.equal((await publishOk(gws[i % 2]!.adminPort, 'scores', m)).via, via);
  }
  await external('scores', 'from-a-service');
  want.push('from-a-service');
  assert.ok(await allHave(subs, want.length, 30_000), 'all 1,000 subscribers on both gateways got every message');
  assert.deepEqual(mismatches(subs, want), []);
  await closeAll(subs);

  // A client publish on one gateway reaches the other gateway's subscribers.
  const [onA, onB] = await Promise.all([subscribeMany(gws[0]!.port, '/chat/room', 5, 5), subscribeMany(gws[1]!.port, '/chat/room', 5, 5)]);
  onA![0]!.ws.send(JSON.stringify({ op: 'publish', topic: 'room', data: 'hello from A' }));
  assert.ok(await allHave([...onA!, ...onB!], 1, 10_000));
  assert.deepEqual(mismatches([...onA!, ...onB!], ['hello from A']), []);
  await closeAll([...onA!, ...onB!]);
}

describe('fan-out across two gateways through Redis pub/sub', { timeout: 180_000, skip: redisSkip() }, () => {
  let redis: RedisServer;
  let gws: Gateway[] = [];

  before(async () => {
    redis = await startRedisServer();
    gws = await Promise.all([0, 1].map(() => startGateway(brokerConfig('redis', redis.url), { workers: 2, adminToken: TOKEN })));
  });

  after(async () => {
    await Promise.all(gws.map((g) => g.stop()));
    await redis?.stop();
  });

  test('1,000 subscribers on 4 workers of 2 gateways get every message in order (admin API, client publish, PUBLISH to Redis)', async () => {
    assert.deepEqual((await pubsubView(gws[0]!)).broker, { type: 'redis', url: redis.url, channelPrefix: 'fan.out.' });
    await acrossGateways(gws, 'redis', async (topic, text) => {
      const reply = await rawCommand(redis.port, ['PUBLISH', `fan.out.${topic}`, text]);
      assert.match(reply, /^:4\r\n$/, 'four workers subscribed');
    });
  });

  test('Redis gone: a publish answers 503 within the deadline', async () => {
    await redis.kill();
    const t0 = Date.now();
    const r = await publish(gws[0]!.adminPort, 'scores', 'lost');
    assert.equal(r.status, 503);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'WICKET_ERR_PUBSUB_UNAVAILABLE');
    assert.ok(Date.now() - t0 < 5000);
  });
});

describe('fan-out across two gateways through NATS', { timeout: 180_000, skip: natsSkip() }, () => {
  let nats: NatsServer;
  let gws: Gateway[] = [];

  before(async () => {
    nats = await startNatsServer();
    gws = await Promise.all([0, 1].map(() => startGateway(brokerConfig('nats', nats.url), { workers: 2, adminToken: TOKEN })));
  });

  after(async () => {
    await Promise.all(gws.map((g) => g.stop()));
    await nats?.stop();
  });

  test('1,000 subscribers on 4 workers of 2 gateways get every message in order (admin API, client publish, a NATS client)', async () => {
    assert.equal((await pubsubView(gws[1]!)).broker?.type, 'nats');
    await acrossGateways(gws, 'nats', async (topic, text) => {
      const nc = await natsConnect({ servers: `127.0.0.1:${nats.port}` });
      nc.publish(`fan.out.${topic}`, Buffer.from(text));
      await nc.flush();
      await nc.close();
    });
  });
});
