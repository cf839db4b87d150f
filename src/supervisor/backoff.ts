// Restart delay for a worker slot: doubles with each crash in a row, capped;
// a worker that stayed up long enough resets the streak.
export class Backoff {
  #streak = 0;
  constructor(
    readonly baseMs: number,
    readonly maxMs: number,
    readonly healthyAfterMs = 10_000,
  ) {}

  /** Delay before the next start, given how long the dead worker lived. */
  next(livedMs: number): number {
    if (livedMs >= this.healthyAfterMs) this.#streak = 0;
    const d = Math.min(this.maxMs, this.baseMs * 2 ** this.#streak);
    this.#streak = Math.min(this.#streak + 1, 30);
    return d;
  }

  get streak(): number {
    return this.#streak;
  }
}
