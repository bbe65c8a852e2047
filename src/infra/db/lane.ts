import { chargeDatabaseTime, databaseTimeLeft } from './deadline.ts';

/**
 * Refused at once, rather than queued: the database is saturated (its connections are all in use
 * and enough callers already wait for one, or the slow lane is full). Requests answer 503
 * `overloaded` with a short Retry-After; a read that has a cached answer serves that instead.
 */
export class DatabaseSaturatedError extends Error {
  override name = 'DatabaseSaturatedError';
  readonly code = 'KITH_DB_SATURATED';
}

/**
 * A bound on work of one kind that holds database connections: at most `size` run at once and
 * at most `queue` wait; any more are refused at once. Slow reads (a feed rebuilt from SQL,
 * search) run in one, so however many arrive together they cannot take every pooled connection
 * away from everything else (logins, writes, cached reads that need one lookup).
 */
export class Lane {
  readonly #size: number;
  readonly #queue: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number, queue: number) {
    this.#size = size;
    this.#queue = queue;
  }

  /** Work running, and work waiting its turn. */
  get load(): { running: number; waiting: number } {
    return { running: this.#running, waiting: this.#waiting.length };
  }

  /**
   * Runs `work` when a slot is free. The wait is charged to the request's database time, and
   * ends with DatabaseSaturatedError when that runs out first.
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running < this.#size) this.#running++;
    else if (this.#waiting.length >= this.#queue)
      throw new DatabaseSaturatedError('slow lane full');
    else await chargeDatabaseTime(this.#turn());
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, if any: `running` stays as it is.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }

  /** Resolves when a finishing run hands its slot over; rejects past the database time left. */
  #turn(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const left = databaseTimeLeft();
      const timer =
        left === undefined
          ? undefined
          : setTimeout(() => {
              this.#waiting.splice(this.#waiting.indexOf(take), 1);
              reject(new DatabaseSaturatedError('no turn in the slow lane in time'));
            }, left);
      const take = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiting.push(take);
    });
  }
}

/** A lane that bounds nothing (PGlite runs one statement at a time anyway). */
export const OPEN_LANE = new Lane(Infinity, Infinity);
