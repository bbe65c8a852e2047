import type { Kysely } from 'kysely';
import { AppError } from '../../errors.ts';
import type { DB } from './schema.ts';

/** What the client sent in `Idempotency-Key`, with a digest of the request it keyed. */
export interface IdempotencyKey {
  key: string;
  requestHash: string;
}

export interface Created {
  id: string;
  /** True when this is a retry answered with the first request's resource. */
  replayed: boolean;
}

/**
 * Creates a resource at most once per (user, key). Runs inside the creating transaction: the key
 * row is inserted first, so a concurrent retry waits on it and then replays the committed
 * result; a rolled-back attempt leaves no key behind. The same key for a different request
 * (scope or body) is 422.
 */
export async function createOnce(
  trx: Kysely<DB>,
  userId: string,
  scope: string,
  idem: IdempotencyKey | undefined,
  create: () => Promise<string>,
): Promise<Created> {
  if (!idem) return { id: await create(), replayed: false };
  const claimed = await trx
    .insertInto('idempotency_keys')
    .values({
      user_id: userId,
      key: idem.key,
      scope,
      request_hash: idem.requestHash,
      resource_id: null,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('key')
    .executeTakeFirst();
  if (!claimed) {
    const first = await trx
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('user_id', '=', userId)
      .where('key', '=', idem.key)
      .executeTakeFirstOrThrow();
    if (first.scope !== scope || first.request_hash !== idem.requestHash) {
      throw new AppError(
        422,
        'idempotency_key_reused',
        'This Idempotency-Key was used for a different request.',
      );
    }
    if (!first.resource_id) {
      throw new AppError(
        409,
        'idempotency_key_in_use',
        'A request with this Idempotency-Key is still in progress.',
      );
    }
    return { id: first.resource_id, replayed: true };
  }
  const id = await create();
  await trx
    .updateTable('idempotency_keys')
    .set({ resource_id: id })
    .where('user_id', '=', userId)
    .where('key', '=', idem.key)
    .execute();
  return { id, replayed: false };
}

/** Forgets keys older than `cutoff` (housekeeping): a retry after that creates anew. */
export async function purgeIdempotencyKeys(db: Kysely<DB>, cutoff: Date): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('created_at', '<', cutoff).execute();
}
