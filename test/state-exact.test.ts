// Shared state is exact across processes: K separate node processes attach to
// one real shared-memory segment (the native addon), start together on a
// barrier, and hammer it. Counts must come out exact, keyed cells must be
// neither lost nor duplicated, and a dead worker's in-flight counts must be
// recoverable from its column.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../src/state/addon.js';
import { createSegment, unlinkSegment, type Segment } from '../src/state/segment.js';
import { ShmStore } from '../src/state/shm-store.js';
import type { Capacity } from '../src/state/layout.js';
import { CTL_BYTES, CTL_CLOCK, CTL_ERRORS, CTL_FULL, CTL_READY, CTL_START, RECLAIM_KEYS, reclaimKey, type Job } from './helpers/state-hammer.js';
import { until } from './helpers/wait.js';

const HAMMER = fileURLToPath(new URL('./helpers/state-hammer.js', import.meta.url));
const K = 4;
const names: string[] = [];
let n = 0;
const uniq = (): string => {
  const name = `/wicket-test-${process.pid}-${n++}`;
  names.push(name);
  return name;
};

function run(job: Job): Promise<number | null> {
  // execArgv: [] so the child does not inherit the test runner's flags.
  const child = fork(HAMMER, [JSON.stringify(job)], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code)));
}

/** Starts K children on `job(slot)`, opens the barrier once all are attached, waits for them. */
async function together(ctl: Int32Array, job: (slot: number) => Job): Promise<void> {
  const exits = Array.from({ length: K }, (_, slot) => run(job(slot)));
  assert.ok(await until(() => Atomics.load(ctl, CTL_READY) === K, 20_000), 'children attached');
  Atomics.store(ctl, CTL_START, 1);
  assert.deepEqual(await Promise.all(exits), Array(K).fill(0), 'every child exits 0');
}

function setup(cap: Capacity): { seg: Segment; store: ShmStore; ctl: Int32Array; ctlName: string } {
  const { segment } = createSegment(uniq(), cap);
  const ctlName = uniq();
  const ctl = new Int32Array(loadAddon().create(ctlName, CTL_BYTES));
  return { seg: segment, store: new ShmStore(segment, -1), ctl, ctlName };
}

after(() => {
  for (const name of names) unlinkSegment(name);
});

describe('shared state across processes', { timeout: 120_000 }, () => {
  let s: ReturnType<typeof setup>;
  before(() => {
    s = setup({ targets: 4, upstreams: 2, workerSlots: 8, tableCells: 4096 });
  });

  test(`${K} processes x 200000 begin() on one counter = exactly ${K}x200000`, async () => {
    const m = 200_000;
    await together(s.ctl, (slot) => ({ kind: 'count', seg: s.seg.name, ctl: s.ctlName, slot, m }));
    assert.equal(s.store.active(0), K * m);
    assert.equal(s.store.target(0).requests, K * m);
    // Every child's own column holds exactly its share.
    for (let slot = 0; slot < K; slot++) {
      const probe = new ShmStore(s.seg, slot);
      const before = probe.active(0);
      probe.reclaimWorker(slot);
      assert.equal(before - probe.active(0), m, `column of slot ${slot}`);
    }
    assert.equal(s.store.active(0), 0);
  });

  test(`keyed table: ${K} processes x 200 rounds over 1000 keys, no lost or duplicated cells`, async () => {
    const keys = 1000;
    const rounds = 200;
    assert.equal(s.store.table.used(), 0);
    Atomics.store(s.ctl, CTL_READY, 0);
    Atomics.store(s.ctl, CTL_START, 0);
    await together(s.ctl, (slot) => ({ kind: 'table', seg: s.seg.name, ctl: s.ctlName, slot, keys, rounds }));
    assert.equal(Atomics.load(s.ctl, CTL_ERRORS), 0, 'no update found the table full');
    assert.equal(s.store.table.used(), keys);
    assert.equal(s.store.counters().tableCellsUsed, keys);
    for (let i = 0; i < keys; i++) {
      assert.equal(s.store.table.get(`key-${i}`), BigInt(K * rounds), `key-${i}`);
      assert.equal(s.store.table.copies(`key-${i}`), 1, `key-${i} copies`);
    }
  });

  test('keyed table: concurrent reclamation never duplicates a key or mixes two keys', async () => {
    // A small table on a fake clock: keys go stale and are reclaimed all the
    // time while every child updates and claims the same keys. Counts may be
    // lost here (stale cells restart at 0); what must hold is that a key has
    // at most one cell and that no update lands in another key's cell.
    const r = setup({ targets: 1, upstreams: 1, workerSlots: K, tableCells: 256 });
    const window = 128;
    const ops = 120_000;
    Atomics.store(r.ctl, CTL_CLOCK, 1);
    await together(r.ctl, (slot) => ({ kind: 'reclaim', seg: r.seg.name, ctl: r.ctlName, slot, ops, ttl: 2, window }));
    const c = r.store.counters();
    assert.ok(c.tableReclaimed > 1000, `reclamation really happened (${c.tableReclaimed})`);
    assert.equal(Atomics.load(r.ctl, CTL_ERRORS), 0, 'every update returned its own key\'s value');
    const dups: string[] = [];
    for (let id = 1; id <= RECLAIM_KEYS; id++) if (r.store.table.copies(reclaimKey(id)) > 1) dups.push(reclaimKey(id));
    assert.deepEqual(dups, [], 'no key holds two cells');
    // Diagnostics only: how hard the run pressed the table.
    console.log(`reclaim run: clock ${Atomics.load(r.ctl, CTL_CLOCK)}, reclaimed ${c.tableReclaimed}, full ${Atomics.load(r.ctl, CTL_FULL)}`);
  });

  test("a dead worker's in-flight counts come back out of the totals", async () => {
    const store = new ShmStore(s.seg, 0);
    for (let i = 0; i < 5; i++) store.begin(2);
    const code = await run({ kind: 'leak', seg: s.seg.name, ctl: s.ctlName, slot: 3, begins: [[2, 7], [3, 2]] });
    assert.equal(code, 0);
    assert.equal(store.active(2), 12);
    assert.equal(store.active(3), 2);
    assert.equal(store.retrying(2), 1);
    store.reclaimWorker(3);
    assert.equal(store.active(2), 5, 'back to the live process count');
    assert.equal(store.active(3), 0);
    assert.equal(store.retrying(2), 0);
    for (let i = 0; i < 5; i++) store.end(2);
    assert.equal(store.active(2), 0);
  });
});
