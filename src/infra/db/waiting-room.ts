/**
 * The requests waiting for a pooled connection, and whether one more may wait. A request is
 * refused at once (rather than queued into a timeout) when a connection is not free and
 * - `max` requests already wait (a fixed bound; 0: none), or
 * - its expected wait is longer than the database time it has left: the requests ahead of it
 *   times the recent mean time a connection is held, over the pool size, or
 * - the pool is stuck: nothing was taken or given back for longer than that time.
 */
export class WaitingRoom {
  readonly #max: number;
  readonly #size: number;
  readonly #free: () => boolean;
  /** Requests waiting for a connection now. */
  waiting = 0;
  /** Mean time a connection is held, ms (moving average, from a small first guess). */
  #holdMs = 5;
  #lastEvent: number;
  readonly #takenAt = new WeakMap<object, number>();
  readonly #now: () => number;

  constructor(max: number, size: number, free: () => boolean, now = () => performance.now()) {
    this.#max = max;
    this.#size = size;
    this.#free = free;
    this.#now = now;
    this.#lastEvent = now();
  }

  /** A connection was taken from the pool (its `acquire` event). */
  taken(client: object): void {
    this.#lastEvent = this.#now();
    this.#takenAt.set(client, this.#lastEvent);
  }

  /** A connection went back to the pool (its `release` event). */
  returned(client: object): void {
    const now = this.#now();
    const since = this.#takenAt.get(client);
    if (since !== undefined) this.#holdMs = 0.9 * this.#holdMs + 0.1 * (now - since);
    this.#lastEvent = now;
  }

  /** Whether a request with `left` ms of database time (undefined: no deadline) must not wait. */
  full(left: number | undefined): boolean {
    if (this.#free()) return false;
    if (this.#max > 0 && this.waiting >= this.#max) return true;
    if (left === undefined) return false;
    const expected = ((this.waiting + 1) * this.#holdMs) / this.#size;
    return expected > left || this.#now() - this.#lastEvent > left;
  }
}
