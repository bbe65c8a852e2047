import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * A request's database budget: the time its queries, and its waits for a pooled connection,
 * may take in total. Every query made in the async context of `withDatabaseBudget` gets at most
 * what is left as its timeout, and what it took is then charged. So a request spends at most
 * the budget on a sick database, however many queries it makes, whether the database refuses
 * connections or went silent on one it already had; time spent elsewhere (hashing a password,
 * waiting for the event loop on a busy node) is not charged.
 */
export interface DatabaseBudget {
  /** Milliseconds of database time left (Infinity: no bound, only counted). */
  left: number;
  /** Statements sent so far: what a request cost the database, for metrics and tests. */
  statements: number;
}

const budgets = new AsyncLocalStorage<DatabaseBudget>();

/** Runs `fn` (and everything it starts) charging its database time to `budget`. */
export function withDatabaseBudget<T>(budget: DatabaseBudget, fn: () => T): T {
  return budgets.run(budget, fn);
}

/** Milliseconds of database time left; undefined outside a budget (workers, jobs). */
export function databaseTimeLeft(): number | undefined {
  const left = budgets.getStore()?.left;
  return left === Infinity ? undefined : left;
}

/** Counts a statement against the current budget (if any). */
export function countStatement(): void {
  const budget = budgets.getStore();
  if (budget) budget.statements++;
}

/** The current budget (if any): what the request has spent so far. */
export function currentBudget(): DatabaseBudget | undefined {
  return budgets.getStore();
}

/**
 * Charges the time from `startedAt` to the settling of `work` to the current budget (if any),
 * and returns `work` itself. Concurrent queries of one request are each charged in full: the
 * bound errs on the short side.
 */
export function chargeDatabaseTime<T>(work: Promise<T>, startedAt = performance.now()): Promise<T> {
  const budget = budgets.getStore();
  if (budget) {
    const charge = () => {
      budget.left -= performance.now() - startedAt;
    };
    work.then(charge, charge);
  }
  return work;
}

/** Raised when the budget ran out before a query could start; answered 503 like a timeout. */
export class DatabaseDeadlineError extends Error {
  override name = 'DatabaseDeadlineError';
  readonly code = 'ETIMEDOUT';
  constructor() {
    super("the request's database time is used up");
  }
}
