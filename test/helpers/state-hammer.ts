// Child process for test/state-exact.test.ts. It attaches to the test's state
// segment by name (as a worker does), waits on a start barrier in a second,
// control segment so that all children really run at the same time, then
// hammers the shared state. The parent checks the results in shared memory.
//
//   node state-hammer.js '<json Job>'
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../../src/state/addon.js';
import { KeyedTable } from '../../src/state/keyed-table.js';
import { COUNTERS } from '../../src/state/layout.js';
import { attachSegment } from '../../src/state/segment.js';
import { ShmStore } from '../../src/state/shm-store.js';

/** Words of the control segment (Int32). */
export const CTL_READY = 0; // children that attached and wait for the start
export const CTL_START = 1; // set to 1 by the parent
export const CTL_ERRORS = 2; // anomalies the children saw
export const CTL_CLOCK = 3; // fake seconds for the reclaim job
export const CTL_FULL = 4; // updates that found no room (reclaim job)
export const CTL_BYTES = 4096;

export type Job =
  | { kind: 'count'; seg: string; ctl: string; slot: number; m: number }
  | { kind: 'table'; seg: string; ctl: string; slot: number; keys: number; rounds: number }
  | { kind: 'reclaim'; seg: string; ctl: string; slot: number; ops: number; ttl: number; window: number }
  | { kind: 'leak'; seg: string; ctl: string; slot: number; begins: [target: number, n: number][] };

export const RECLAIM_KEYS = 1024;
/** The reclaim job stores key id << 32 | count, so a value landing in another key's cell shows. */
export const reclaimKey = (id: number): string => `r-${id}`;

function main(job: Job): void {
  const seg = attachSegment(job.seg);
  const store = new ShmStore(seg, job.slot);
  const ctl = new Int32Array(loadAddon().attach(job.ctl));

  if (job.kind === 'leak') {
    for (const [t, n] of job.begins) for (let i = 0; i < n; i++) store.begin(t);
    store.retryBegin(job.begins[0]![0]);
    return; // exit without end(): the parent reclaims our column
  }

  Atomics.add(ctl, CTL_READY, 1);
  // Spin rather than Atomics.wait: V8's wait/notify does not cross processes.
  const deadline = Date.now() + 20_000;
  while (Atomics.load(ctl, CTL_START) === 0) {
    if (Date.now() > deadline) throw new Error('start barrier never opened');
  }

  switch (job.kind) {
    case 'count':
      for (let i = 0; i < job.m; i++) store.begin(0);
      break;
    case 'table': {
      // Same key order in every child, so they race to claim each new key.
      const inc = (v: bigint): bigint => v + 1n;
      for (let r = 0; r < job.rounds; r++) {
        for (let i = 0; i < job.keys; i++) {
          if (store.table.update(`key-${i}`, 60, inc) === undefined) Atomics.add(ctl, CTL_ERRORS, 1);
        }
      }
      break;
    }
    case 'reclaim': {
      // A table on a fake clock that child 0 moves on: the set of keys in use
      // slides with it (round a ring of RECLAIM_KEYS), so keys go stale, are
      // touched again when stale, and reclaim each other's cells while every
      // child updates (and claims) the same keys.
      const l = seg.layout;
      const counters = new Int32Array(seg.sab, l.counters, COUNTERS);
      const table = new KeyedTable(seg.sab, l.tableOff, l.tableCells, counters, () => Atomics.load(ctl, CTL_CLOCK));
      for (let j = 0; j < job.ops; j++) {
        if (job.slot === 0 && j % 400 === 399) Atomics.add(ctl, CTL_CLOCK, 1);
        const id = ((Atomics.load(ctl, CTL_CLOCK) * (job.window >> 2) + ((j * 7) % job.window)) % RECLAIM_KEYS) + 1;
        const tagged = BigInt(id) << 32n;
        const got = table.update(reclaimKey(id), job.ttl, (v) => (v === 0n ? tagged | 1n : v + 1n));
        if (got === undefined) Atomics.add(ctl, CTL_FULL, 1);
        else if (got >> 32n !== BigInt(id)) Atomics.add(ctl, CTL_ERRORS, 1);
      }
      break;
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(JSON.parse(process.argv[2]!) as Job);
