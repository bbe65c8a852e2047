import { setTimeout as delay } from 'node:timers/promises';
import type { Kysely, Transaction } from 'kysely';
import type { DB } from './schema.ts';

// Deadlock and serialization failures: the transaction did nothing and can simply run again.
const RETRYABLE = new Set(['40P01', '40001']);
const ATTEMPTS = 4;

/**
 * Runs `fn` in a transaction, retrying it (with jittered back-off) when Postgres aborts it for a
 * deadlock or a serialization failure. `fn` must only touch the database through `trx`.
 */
export async function transaction<T>(
  db: Kysely<DB>,
  fn: (trx: Transaction<DB>) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= ATTEMPTS || typeof code !== 'string' || !RETRYABLE.has(code)) throw err;
      await delay(5 * attempt + Math.random() * 10 * attempt);
    }
  }
}
