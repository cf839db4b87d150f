// Worker memory for streaming tests: finds the gateway's worker processes
// (children of the supervisor) and samples their resident set size from
// /proc. Linux only; every wait is bounded.
import { readdirSync, readFileSync } from 'node:fs';

/** Parent pid from /proc/<pid>/stat (field 4; the name in field 2 may hold spaces). */
function ppidOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[1]);
  } catch {
    return null; // gone meanwhile
  }
}

/** Pids whose parent is `parent`. Prefers /proc/<pid>/task/<tid>/children, else scans /proc. */
export function childPids(parent: number): number[] {
  const out = new Set<number>();
  let viaChildren = false;
  try {
    for (const tid of readdirSync(`/proc/${parent}/task`)) {
      try {
        const text = readFileSync(`/proc/${parent}/task/${tid}/children`, 'latin1');
        viaChildren = true;
        for (const p of text.split(/\s+/)) if (p !== '') out.add(Number(p));
      } catch {
        // kernel without CONFIG_PROC_CHILDREN
      }
    }
  } catch {
    return [];
  }
  if (!viaChildren) {
    for (const name of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(name)) continue;
      const pid = Number(name);
      if (ppidOf(pid) === parent) out.add(pid);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/** The children of `parent` that are node:cluster workers (same executable as the supervisor). */
export function workerPids(parent: number): number[] {
  return childPids(parent).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0')[0] === readFileSync(`/proc/${parent}/cmdline`, 'latin1').split('\0')[0];
    } catch {
      return false;
    }
  });
}

/** Waits (bounded) until `parent` has exactly `n` workers; returns their pids. */
export async function waitWorkers(parent: number, n: number, timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = workerPids(parent);
    if (pids.length === n) return pids;
    if (Date.now() > deadline) throw new Error(`expected ${n} workers under ${parent}, found ${pids.length}: ${pids.join(',')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** VmRSS of `pid` in bytes (null when the process is gone). */
export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m === null ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

export interface RssSampler {
  /** Highest VmRSS seen so far, in bytes. */
  readonly peak: number;
  readonly samples: number;
  stop(): { peak: number; samples: number };
}

/** Samples `pid`'s VmRSS every `everyMs` until stopped (or `maxMs`, a safety bound). */
export function sampleRss(pid: number, everyMs = 25, maxMs = 120_000): RssSampler {
  let peak = rssBytes(pid) ?? 0;
  let samples = 1;
  const started = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - started > maxMs) return clearInterval(timer);
    const v = rssBytes(pid);
    if (v !== null) {
      samples++;
      if (v > peak) peak = v;
    }
  }, everyMs);
  timer.unref();
  return {
    get peak() {
      return peak;
    },
    get samples() {
      return samples;
    },
    stop() {
      clearInterval(timer);
      const v = rssBytes(pid);
      if (v !== null && v > peak) peak = v;
      return { peak, samples };
    },
  };
}

export const MB = 1024 * 1024;
