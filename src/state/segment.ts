// Creating, attaching and removing a state segment. The supervisor creates it
// (and owns it: its pid is in the header) and unlinks it at exit; workers
// attach by name. A segment found under our name at start is never trusted:
// if its owner is gone, or it is not ours at all, it is recreated.
import { readFileSync } from 'node:fs';
import { loadAddon, type ShmAddon } from './addon.js';
import {
  H_F64_BYTES,
  H_F64_EPOCH,
  H_MAGIC,
  H_OWNER_PID,
  H_READY,
  H_TABLE_CELLS,
  H_TARGETS,
  H_UPSTREAMS,
  H_VERSION,
  H_WORKER_SLOTS,
  HEADER_BYTES,
  LAYOUT_VERSION,
  MAGIC,
  offsets,
  type Capacity,
  type Offsets,
} from './layout.js';

export interface Segment {
  readonly name: string;
  readonly sab: SharedArrayBuffer;
  readonly layout: Offsets;
  /** Date.now() when the segment was created: times inside are relative to it. */
  readonly epoch: number;
}

export class SegmentError extends Error {
  constructor(readonly code: 'WICKET_ERR_SHM_IN_USE' | 'WICKET_ERR_SHM_INVALID', message: string) {
    super(message);
  }
}

/** Why an existing segment can't be used, or null when a live gateway owns it. */
export function staleReason(sab: SharedArrayBuffer, selfPid = process.pid): string | null {
  if (sab.byteLength < HEADER_BYTES) return 'too small';
  const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
  if (h[H_MAGIC] !== MAGIC) return 'not a wicket segment (bad magic)';
  if (h[H_VERSION] !== LAYOUT_VERSION) return `layout version ${h[H_VERSION]}, this build uses ${LAYOUT_VERSION}`;
  const pid = h[H_OWNER_PID]!;
  if (pid === selfPid || !isLiveNode(pid)) return `owner pid ${pid} is gone`;
  return null;
}

function isLiveNode(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A recycled pid belongs to some other program: not a gateway.
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('node');
  } catch {
    return true; // no /proc: assume the owner lives rather than corrupt its memory
  }
}

export interface CreateResult {
  segment: Segment;
  /** Set when a segment left by an earlier run was found and replaced. */
  replaced: string | null;
}

export function createSegment(name: string, cap: Capacity, addon: ShmAddon = loadAddon()): CreateResult {
  const layout = offsets(cap);
  let replaced: string | null = null;
  let sab: SharedArrayBuffer;
  try {
    sab = addon.create(name, layout.bytes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    let old: SharedArrayBuffer | null = null;
    try {
      old = addon.attach(name);
    } catch {
      // unreadable or too small: replaced below
    }
    const reason = old === null ? 'unreadable' : staleReason(old);
    if (reason === null) {
      const pid = new Int32Array(old!, 0, HEADER_BYTES / 4)[H_OWNER_PID];
      throw new SegmentError(
        'WICKET_ERR_SHM_IN_USE',
        `shared-memory segment ${name} belongs to a running gateway (pid ${pid}); give this instance its own state.name`,
      );
    }
    replaced = reason;
    addon.unlink(name);
    sab = addon.create(name, layout.bytes);
  }
  const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const f = new Float64Array(sab, 0, HEADER_BYTES / 8);
  const epoch = Date.now();
  h[H_TARGETS] = cap.targets;
  h[H_UPSTREAMS] = cap.upstreams;
  h[H_WORKER_SLOTS] = cap.workerSlots;
  h[H_TABLE_CELLS] = cap.tableCells;
  f[H_F64_BYTES] = layout.bytes;
  f[H_F64_EPOCH] = epoch;
  h[H_OWNER_PID] = process.pid;
  h[H_VERSION] = LAYOUT_VERSION;
  h[H_MAGIC] = MAGIC;
  Atomics.store(h, H_READY, 1);
  return { segment: { name, sab, layout, epoch }, replaced };
}

export function attachSegment(name: string, addon: ShmAddon = loadAddon()): Segment {
  const sab = addon.attach(name);
  const bad = (why: string): never => {
    throw new SegmentError('WICKET_ERR_SHM_INVALID', `shared-memory segment ${name} ${why}`);
  };
  if (sab.byteLength < HEADER_BYTES) bad('is too small');
  const h = new Int32Array(sab, 0, HEADER_BYTES / 4);
  const f = new Float64Array(sab, 0, HEADER_BYTES / 8);
  if (h[H_MAGIC] !== MAGIC) bad('is not a wicket segment');
  if (h[H_VERSION] !== LAYOUT_VERSION) bad(`has layout version ${h[H_VERSION]}, expected ${LAYOUT_VERSION}`);
  if (Atomics.load(h, H_READY) !== 1) bad('is not initialised');
  const layout = offsets({
    targets: h[H_TARGETS]!,
    upstreams: h[H_UPSTREAMS]!,
    workerSlots: h[H_WORKER_SLOTS]!,
    tableCells: h[H_TABLE_CELLS]!,
  });
  if (f[H_F64_BYTES] !== layout.bytes || sab.byteLength !== layout.bytes) bad('has a size that does not match its header');
  return { name, sab, layout, epoch: f[H_F64_EPOCH]! };
}

export function unlinkSegment(name: string, addon: ShmAddon = loadAddon()): boolean {
  return addon.unlink(name);
}

/** POSIX shm names: one leading slash, a conservative character set. */
export function segmentName(instance: string): string {
  return `/wicket-${instance.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
}
