// Which shared-state slot belongs to which upstream and target. The
// supervisor owns this map for its whole life: the same upstream + URL keeps
// its slot across reloads (its counts, health and admin marks stay). A new
// one takes a never-used slot while there are any, else the slot freed
// longest ago (health and history zeroed; in-flight counts left to drain):
// requests of the previous config may still end on a freed slot, so it is
// reused as late as possible.
import type { ResolvedConfig } from '../config/load.js';
import type { StateStore } from './store.js';

export class SlotMap {
  readonly #slots = new Map<string, number>();
  readonly #free: number[] = [];
  #next = 0;

  constructor(readonly capacity: number) {}

  /** Slots for exactly `keys`; frees the others. Throws when out of room. */
  assign(keys: readonly string[], onNew: (slot: number) => void): Map<string, number> {
    const want = new Set(keys);
    for (const [k, s] of this.#slots) {
      if (!want.has(k)) {
        this.#slots.delete(k);
        this.#free.push(s);
      }
    }
    for (const k of want) {
      if (this.#slots.has(k)) continue;
      const s = this.#next < this.capacity ? this.#next++ : this.#free.length > 0 ? this.#free.shift()! : -1;
      if (s < 0) throw new Error(`no shared-state slot left (capacity ${this.capacity})`);
      this.#slots.set(k, s);
      onNew(s);
    }
    return this.#slots;
  }

  entries(): IterableIterator<[string, number]> {
    return this.#slots.entries();
  }
}

export const targetKey = (upstream: string, url: string): string => `${upstream}\n${url}`;

/** Fills in the slots of `config` (a supervisor-owned copy) in place. */
export function assignSlots(config: ResolvedConfig, targets: SlotMap, upstreams: SlotMap, store: StateStore): void {
  const ups = Object.values(config.upstreams);
  const u = upstreams.assign(ups.map((x) => x.name), (s) => store.resetUpstream(s));
  const t = targets.assign(
    ups.flatMap((x) => x.targets.map((tg) => targetKey(x.name, tg.url))),
    (s) => store.resetTarget(s),
  );
  for (const up of ups) {
    up.slot = u.get(up.name)!;
    for (const tg of up.targets) tg.slot = t.get(targetKey(up.name, tg.url))!;
  }
}
