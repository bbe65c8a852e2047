import type { Kysely } from 'kysely';
import type { EventMap, EventType } from './event-map.ts';
import type { DB } from '../infra/db/schema.ts';
import { newId } from '../ids.ts';

/**
 * Writes an event into the outbox. Call it with the transaction that makes the change: the
 * event exists if and only if the change committed. The relay publishes it afterwards.
 */
export async function recordEvent<T extends EventType>(
  trx: Kysely<DB>,
  type: T,
  data: EventMap[T],
): Promise<string> {
  const id = newId();
  await trx
    .insertInto('outbox')
    .values({ id, type, data: JSON.stringify(data) })
    .execute();
  return id;
}
