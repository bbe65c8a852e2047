import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * A request's database deadline: every query (and every wait for a pooled connection) made in
 * the async context of `withDatabaseDeadline` gets at most the time left until it. So a request
 * spends at most that long on a sick database in total, however many queries it makes, whether
 * the database refuses connections or went silent on one it already had.
 */
const deadlines = new AsyncLocalStorage<number>();

/** Runs `fn` (and everything it starts) with a database deadline at `deadline` (epoch ms). */
export function withDatabaseDeadline<T>(deadline: number, fn: () => T): T {
  return deadlines.run(deadline, fn);
}

/** Milliseconds left before the current deadline; undefined outside one (workers, jobs). */
export function databaseTimeLeft(): number | undefined {
  const deadline = deadlines.getStore();
  return deadline === undefined ? undefined : deadline - Date.now();
}

/** Raised when the deadline passed before a query could start; answered 503 like a timeout. */
export class DatabaseDeadlineError extends Error {
  override name = 'DatabaseDeadlineError';
  readonly code = 'ETIMEDOUT';
  constructor() {
    super("the request's database time is used up");
  }
}
