// A provider's keys as the worker looks them up: by kid in a Map (never an
// object: "__proto__" or "../../etc/passwd" are just strings that match
// nothing), and the keys without kid for tokens without one.
import type { KeyEntry } from './keys.js';

export class KeyTable {
  readonly #byKid = new Map<string, KeyEntry[]>();
  readonly #all: readonly KeyEntry[];

  constructor(entries: readonly KeyEntry[]) {
    this.#all = entries;
    for (const e of entries) {
      if (e.kid === undefined) continue;
      const list = this.#byKid.get(e.kid) ?? [];
      list.push(e);
      this.#byKid.set(e.kid, list);
    }
  }

  get size(): number {
    return this.#all.length;
  }

  /**
   * Keys that may verify a token with this alg and kid. `unknownKid`: the kid
   * names no key at all (a key set may have rotated: worth a refetch).
   */
  find(alg: string, kid: string | undefined): { keys: KeyEntry[]; unknownKid: boolean } {
    if (kid !== undefined) {
      const named = this.#byKid.get(kid);
      if (named === undefined) return { keys: [], unknownKid: true };
      return { keys: named.filter((k) => k.algs.has(alg)), unknownKid: false };
    }
    return { keys: this.#all.filter((k) => k.algs.has(alg)), unknownKid: false };
  }
}
