// WebSocket fan-out on one gateway (2 workers, no broker: the supervisor
// relays over IPC): 1,000 `ws` subscribers spread over both workers get every
// message in order; text and binary frames; the admin endpoint's errors; the
// client protocol (subscribe, unsubscribe, publish, refusals); slow
// subscribers dropped (1013, logged) or skipping (miss messages, then get
// later ones), with worker memory bounded in both cases.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, workerPids, type Gateway } from './helpers/gateway.js';
import { MB, rssBytes, sampleRss } from './helpers/rss.js';
import { sleep, until } from './helpers/wait.js';
import { TOKEN, allHave, closeAll, mismatches, publish, publishOk, pubsubView, subscribe, subscribeMany, type Sub } from './helpers/pubsub.js';

const LIMIT = 256 * 1024;
// Slow-subscriber tests: 4,000 x 64 KiB = 250 MiB published while one
// subscriber reads nothing. A worker's heap first grows by tens of MiB to its
// working size under this load (relay buffers not yet collected; the worker
// without the slow subscriber shows it too), so each test warms up before
// its baseline. The bound is below uWS's own hard cap per socket
// (2 x limits.maxWebSocketMessageBytes + 1 MiB = 33 MiB), so it is the
// route's policy that holds it, not uWS.
const FLOOD = 4000;
const BOUND = 48 * MB;

describe('WebSocket fan-out (2 workers, supervisor relay)', { timeout: 240_000 }, () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway(
      `pubsub: { maxMessageBytes: 100000 }
routes:
  - name: live
    match: { path: "/live/:topic" }
    pubsub: { topics: "param:topic" }
  - name: chat
    match: { path: "/chat" }
    pubsub: { topics: "query:t", clientSubscribe: true, clientPublish: true, maxTopics: 3 }
  - name: drop
    match: { path: "/drop/:topic" }
    pubsub: { topics: "param:topic", maxBufferedBytes: ${LIMIT}, slow: drop }
  - name: skip
    match: { path: "/skip/:topic" }
    pubsub: { topics: "param:topic", maxBufferedBytes: ${LIMIT}, slow: skip }
`,
      { workers: 2, adminToken: TOKEN },
    );
  });

  after(async () => {
    await gw?.stop();
  });

  test('1,000 subscribers over both workers: every one gets every message, in order', async (t) => {
    const subs = await subscribeMany(gw.port, '/live/news', 1000);
    const view = await pubsubView(gw);
    assert.equal(view.broker, null);
    assert.equal(view.workers.length, 2);
    const perWorker = view.workers.map((w) => w.routes.live ?? 0);
    assert.ok(perWorker.every((n) => n > 0), `both workers hold subscribers: ${perWorker.join(' + ')}`);
    assert.equal(perWorker[0]! + perWorker[1]!, 1000);
    t.diagnostic(`subscribers per worker: ${perWorker.join(' + ')}`);

    const want = Array.from({ length: 50 }, (_, i) => `news-${i}`);
    for (const m of want) assert.equal((await publishOk(gw.adminPort, 'news', m)).via, 'relay');
    assert.ok(await allHave(subs, want.length, 30_000), 'all 1,000 got 50 messages');
    assert.deepEqual(mismatches(subs, want), []);
    assert.ok(subs.every((s) => s.got.every((m) => !m.binary)), 'UTF-8 payloads arrive as text frames');
    // A topic nobody holds costs nothing and reaches no one.
    await publishOk(gw.adminPort, 'other', 'x');
    await sleep(100);
    assert.ok(subs.every((s) => s.got.length === want.length));
    await closeAll(subs);
    let left = -1;
    for (let i = 0; i < 50 && left !== 0; i++) {
      left = (await pubsubView(gw)).workers.reduce((n, w) => n + w.subscribers, 0);
      if (left !== 0) await sleep(100);
    }
    assert.equal(left, 0, 'closed subscribers are forgotten');
  });

  test('binary payloads arrive as binary frames; topics are per name', async () => {
    const [a, b] = await Promise.all([subscribe(gw.port, '/live/t.one'), subscribe(gw.port, '/live/t.two')]);
    const bin = Buffer.from([0xff, 0x00, 0xc3, 0x28]);
    await publishOk(gw.adminPort, 't.one', bin);
    await publishOk(gw.adminPort, 't.two', 'for two');
    assert.ok(await until(() => a!.got.length === 1 && b!.got.length === 1, 5000));
    assert.deepEqual([a!.got[0]!.data, a!.got[0]!.binary], [bin, true]);
    assert.deepEqual([b!.got[0]!.data.toString(), b!.got[0]!.binary], ['for two', false]);
    await closeAll([a!, b!]);
  });

  test('admin publish: 401 without the token, 400 for a bad topic, 413 over pubsub.maxMessageBytes, 405 for GET', async () => {
    assert.equal((await publish(gw.adminPort, 'news', 'x', null)).status, 401);
    assert.equal((await publish(gw.adminPort, 'news', 'x', 'wrong-token-wrong-token')).status, 401);
    const bad = await publish(gw.adminPort, 'a..b', 'x');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { code: string } }).error.code, 'WICKET_ERR_PUBSUB_BAD_TOPIC');
    assert.equal((await publish(gw.adminPort, 'a b', 'x')).status, 400);
    assert.equal((await publish(gw.adminPort, 'news', Buffer.alloc(100_001))).status, 413);
    assert.equal((await publishOk(gw.adminPort, 'news', Buffer.alloc(100_000))).via, 'relay');
    const get = await fetch(`http://127.0.0.1:${gw.adminPort}/publish?topic=news`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(get.status, 405);
  });

  test('a plain request on a pubsub route gets 426; a bad topic in the path gets 400', async () => {
    const r = await fetch(`${gw.url}/live/news`);
    assert.equal(r.status, 426);
    assert.equal(r.headers.get('upgrade'), 'websocket');
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'WICKET_ERR_UPGRADE_REQUIRED');
    await assert.rejects(subscribe(gw.port, '/live/a..b'), (e: { status: number; body: string }) => {
      assert.equal(e.status, 400);
      assert.match(e.body, /WICKET_ERR_PUBSUB_BAD_TOPIC/);
      return true;
    });
    // A route that takes topics from the query needs one.
    await assert.rejects(subscribe(gw.port, '/chat'), (e: { status: number }) => e.status === 400);
  });

  test('client protocol: subscribe, unsubscribe and publish across workers; refusals close with 1008/1003', async () => {
    // Ten clients: new connections land on both workers.
    const subs = await subscribeMany(gw.port, '/chat?t=room.1', 10, 10);
    const [first] = subs;
    first!.ws.send(JSON.stringify({ op: 'publish', topic: 'room.1', data: 'hi all' }));
    assert.ok(await allHave(subs, 1, 5000), 'every client (the sender too) got the client publish');
    assert.deepEqual(mismatches(subs, ['hi all']), []);

    // Subscribe to a second topic over the socket, then unsubscribe from the first.
    for (const s of subs) s.ws.send(JSON.stringify({ op: 'subscribe', topic: 'room.2' }));
    await sleep(200); // no acknowledgement in the protocol: let the frames arrive
    await publishOk(gw.adminPort, 'room.2', 'to two');
    assert.ok(await allHave(subs, 2, 5000));
    for (const s of subs) s.ws.send(JSON.stringify({ op: 'unsubscribe', topic: 'room.1' }));
    await sleep(200);
    await publishOk(gw.adminPort, 'room.1', 'nobody');
    await publishOk(gw.adminPort, 'room.2', 'marker');
    assert.ok(await allHave(subs, 3, 5000));
    assert.deepEqual(mismatches(subs, ['hi all', 'to two', 'marker']), []);

    const refusals: [Sub, string | Buffer, number][] = [
      [subs[1]!, JSON.stringify({ op: 'publish', topic: 'room.9', data: 'x' }), 1008], // not subscribed to it
      [subs[2]!, 'not json', 1008],
      [subs[3]!, Buffer.from([1, 2, 3]), 1003],
      [subs[4]!, JSON.stringify({ op: 'dance', topic: 'room.2' }), 1008],
    ];
    for (const [s, frame] of refusals) s.ws.send(frame);
    for (const [s, , code] of refusals) assert.equal((await s.closed).code, code);
    // maxTopics 3: room.2 plus two more is the limit.
    const s5 = subs[5]!;
    for (const t of ['a', 'b', 'c']) s5.ws.send(JSON.stringify({ op: 'subscribe', topic: t }));
    assert.deepEqual(await s5.closed, { code: 1008, reason: 'more than 3 topics' });
    // A route without clientSubscribe/clientPublish takes no client message at all.
    const live = await subscribe(gw.port, '/live/news');
    live.ws.send(JSON.stringify({ op: 'subscribe', topic: 'x' }));
    assert.equal((await live.closed).code, 1008);
    await closeAll(subs);
  });

  /**
   * Publishes `n` numbered 64 KiB binary messages. Paced by the `readers`
   * (at most 2 messages ahead of them), so they stay under the limit however
   * busy this process is, while a paused subscriber falls behind.
   */
  async function flood(topic: string, from: number, n: number, readers: Sub[]): Promise<void> {
    const base = readers.map((r) => r.got.length - from);
    for (let i = from; i < from + n; i++) {
      if (!(await until(() => readers.every((r, k) => r.got.length - base[k]! >= i - 2), 10_000))) throw new Error(`readers stuck before message ${i}`);
      const m = Buffer.alloc(64 * 1024, 0xff); // 0xff: never valid UTF-8, so binary frames
      m.writeUInt32BE(i, 0);
      await publishOk(gw.adminPort, topic, m);
    }
  }
  /** Each worker's heap grows to its working size under this load first (that is not backlog). */
  async function warmUp(): Promise<void> {
    const warm = await subscribeMany(gw.port, '/drop/warmup', 4, 4);
    await flood('warmup', 0, 1000, warm);
    await closeAll(warm);
  }
  const seqs = (s: Sub): number[] => s.got.map((m) => m.data.readUInt32BE(0));

  test('slow subscriber, policy drop: closed with 1013 and logged; the others get everything; worker memory bounded', async (t) => {
    await warmUp();
    const pids = workerPids(gw);
    const samplers = pids.map((p) => sampleRss(p));
    const base = pids.map((p) => rssBytes(p)!);
    const fast = await subscribeMany(gw.port, '/drop/firehose', 2, 2);
    const slow = await subscribe(gw.port, '/drop/firehose');
    slow.ws.pause(); // reads nothing: kernel buffers fill, then the gateway's
    const N = FLOOD;
    const flooding = flood('firehose', 0, N, fast);
    const line = await gw.waitFor('slow subscriber dropped', 30_000);
    assert.match(line, /"route":"drop"/);
    assert.match(line, /"maxBufferedBytes":262144/);
    // Read the backlog, then the close frame behind it. (uWS cuts a dropped
    // connection that reads nothing for a few seconds: it would see 1006.)
    slow.ws.resume();
    assert.deepEqual(await slow.closed, { code: 1013, reason: 'subscriber too slow' });
    assert.ok(slow.got.length < N, `the dropped subscriber got ${slow.got.length} of ${N}`);
    await flooding;
    assert.ok(await allHave(fast, N, 60_000), 'fast subscribers got all');
    for (const s of fast) assert.deepEqual(seqs(s), Array.from({ length: N }, (_, i) => i));
    const grown = samplers.map((s, i) => s.stop().peak - base[i]!);
    t.diagnostic(`peak worker RSS growth: ${grown.map((g) => (g / MB).toFixed(1)).join(', ')} MiB`);
    assert.ok(Math.max(...grown) < BOUND, `worker RSS grew by ${grown.map((g) => (g / MB).toFixed(1)).join(', ')} MiB while ${FLOOD / 16} MiB went to a stalled subscriber`);
    const view = await pubsubView(gw);
    assert.equal(view.workers.reduce((n, w) => n + w.dropped, 0), 1);
    await closeAll(fast);
  });

  test('slow subscriber, policy skip: misses messages while over the limit, gets later ones in order once caught up; memory bounded', async (t) => {
    await warmUp();
    const pids = workerPids(gw);
    const samplers = pids.map((p) => sampleRss(p));
    const base = pids.map((p) => rssBytes(p)!);
    const fast = await subscribe(gw.port, '/skip/firehose');
    const slow = await subscribe(gw.port, '/skip/firehose');
    slow.ws.pause();
    const N = FLOOD;
    let maxBuffered = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const w of (await pubsubView(gw)).workers) maxBuffered = Math.max(maxBuffered, w.maxBuffered);
        await sleep(50);
      }
    })();
    await flood('firehose', 0, N, [fast]);
    sampling = false;
    await sampler;
    t.diagnostic(`largest backlog seen: ${maxBuffered} bytes (limit ${LIMIT})`);
    // limit + a sweep's worth (limit/4) + the message being written.
    assert.ok(maxBuffered > 0 && maxBuffered <= LIMIT + LIMIT / 4 + 64 * 1024 + 1024, `backlog ${maxBuffered} held near the route's limit`);
    assert.ok(await allHave([fast], N, 60_000));
    const skipping = (await pubsubView(gw)).workers.reduce((n, w) => n + w.skipping, 0);
    assert.equal(skipping, 1, 'the stalled subscriber is skipping');
    slow.ws.resume();
    // Caught up: nothing more arrives for a while.
    let last = -1;
    for (let i = 0; i < 100 && slow.got.length !== last; i++) {
      last = slow.got.length;
      await sleep(200);
    }
    const missed = N - slow.got.length;
    assert.ok(missed > 0, 'it missed messages while over the limit');
    await flood('firehose', N, 20, [fast]);
    // Each its own count: `fast` had more already, so a shared threshold could pass before its last message came.
    assert.ok(await allHave([fast], N + 20, 20_000));
    assert.ok(await allHave([slow], N + 20 - missed, 20_000));
    const got = seqs(slow);
    assert.ok(got.every((v, i) => i === 0 || v > got[i - 1]!), 'what it got is in order');
    assert.deepEqual(got.slice(-20), Array.from({ length: 20 }, (_, i) => N + i), 'every message after it caught up');
    assert.deepEqual(seqs(fast), Array.from({ length: N + 20 }, (_, i) => i));
    assert.equal(slow.ws.readyState, slow.ws.OPEN, 'skip never closes');
    const grown = samplers.map((s, i) => s.stop().peak - base[i]!);
    t.diagnostic(`peak worker RSS growth: ${grown.map((g) => (g / MB).toFixed(1)).join(', ')} MiB`);
    assert.ok(Math.max(...grown) < BOUND, `worker RSS grew by ${grown.map((g) => (g / MB).toFixed(1)).join(', ')} MiB while ${FLOOD / 16} MiB went to a stalled subscriber`);
    const view = await pubsubView(gw);
    assert.ok(view.workers.reduce((n, w) => n + w.skipped, 0) >= missed);
    await closeAll([fast, slow]);
  });
});
