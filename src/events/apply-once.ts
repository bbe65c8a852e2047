import type { Kysely } from 'kysely';
import type { DB } from '../infra/db/schema.ts';
import { transaction } from '../infra/db/transaction.ts';

/**
 * Applies a consumer's database effect of an event at most once: the event id is recorded in
 * the same transaction as the effect, so a redelivery finds it and does nothing. Returns false
 * for a redelivery.
 */
export async function applyOnce(
  db: Kysely<DB>,
  consumer: string,
  eventId: string,
  apply: (trx: Kysely<DB>) => Promise<void>,
): Promise<boolean> {
  return transaction(db, async (trx) => {
    const fresh = await trx
      .insertInto('processed_events')
      .values({ consumer, event_id: eventId })
      .onConflict((oc) => oc.doNothing())
      .returning('event_id')
      .executeTakeFirst();
    if (!fresh) return false;
    await apply(trx);
    return true;
  });
}
