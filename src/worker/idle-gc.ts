// Memory back after load. V8 grows a worker's young generation under load
// (up to twice supervisor.workerSemiSpaceMiB) and shrinks it only in a full
// GC that runs while its measured allocation rate is low; an idle worker
// allocates nothing, so no GC comes and the memory stays. Once a worker that
// was busy has been quiet for a check interval, it runs that GC itself, once
// per quiet interval until the heap is back near its size before the load
// (at most MAX_TRIES times). Measured: heap 132 -> 5 MiB, RSS back to its
// idle size a few seconds later (docs/ARCHITECTURE.md). Workers run with
// --expose-gc for this; without it, this does nothing.
const CHECK_MS = 5000;
const MAX_TRIES = 6;

/** `served()`: requests finished so far. */
export function startIdleGc(served: () => number): void {
  const gc = (globalThis as { gc?: (o?: { type?: string; execution?: string }) => void }).gc;
  if (typeof gc !== 'function') return;
  let last = served();
  /** The heap's size when the worker was last quiet: the target to get back to. */
  let quietHeap = process.memoryUsage().heapTotal;
  let tries = -1; // -1: nothing to give back
  setInterval(() => {
    const n = served();
    if (n !== last) {
      last = n;
      tries = 0;
      return;
    }
    if (tries < 0) return;
    if (process.memoryUsage().heapTotal <= quietHeap * 1.25 || tries >= MAX_TRIES) {
      quietHeap = Math.min(quietHeap, process.memoryUsage().heapTotal);
      tries = -1;
      return;
    }
    tries++;
    gc({ type: 'major', execution: 'sync' });
  }, CHECK_MS).unref();
}
