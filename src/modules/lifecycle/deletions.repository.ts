import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';

export interface DeletionRow {
  user_id: string;
  erase_after: Date;
  phase: string;
  batches: number;
}

/** SQL for pending account deletions (the `account_deletions` table). */
export class DeletionsRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Deactivates the user and schedules the erasure; asking again keeps the first date. */
  async schedule(userId: string, eraseAfter: Date): Promise<Date> {
    await this.#db
      .updateTable('users')
      .set({ deactivated_at: new Date() })
      .where('id', '=', userId)
      .where('deactivated_at', 'is', null)
      .execute();
    await this.#db
      .insertInto('account_deletions')
      .values({ user_id: userId, erase_after: eraseAfter })
      .onConflict((oc) => oc.doNothing())
      .execute();
    const row = await this.#db
      .selectFrom('account_deletions')
      .select('erase_after')
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow();
    return row.erase_after;
  }

  find(userId: string): Promise<DeletionRow | undefined> {
    return this.#db
      .selectFrom('account_deletions')
      .select(['user_id', 'erase_after', 'phase', 'batches'])
      .where('user_id', '=', userId)
      .executeTakeFirst();
  }

  /**
   * Claims the deletion that is due the longest, for `leaseSeconds`: another worker takes it
   * over only once the lease has passed (the claimer died). Starting it ends the grace period.
   */
  async claimDue(leaseSeconds: number): Promise<DeletionRow | undefined> {
    const { rows } = await sql<DeletionRow>`
      update account_deletions set
        claimed_until = now() + make_interval(secs => ${leaseSeconds}),
        phase = case when phase = 'waiting' then 'started' else phase end
      where user_id = (
        select user_id from account_deletions
        where erase_after <= now() and (claimed_until is null or claimed_until < now())
        order by erase_after limit 1 for update skip locked)
      returning user_id, erase_after, phase, batches`.execute(this.#db);
    return rows[0];
  }

  /** Locks the deletion for one batch; undefined once it is finished. */
  lock(userId: string): Promise<DeletionRow | undefined> {
    return this.#db
      .selectFrom('account_deletions')
      .select(['user_id', 'erase_after', 'phase', 'batches'])
      .where('user_id', '=', userId)
      .forUpdate()
      .executeTakeFirst();
  }

  /** Records a committed batch (same transaction) and renews the claim. */
  async advance(userId: string, phase: string, leaseSeconds: number): Promise<void> {
    await sql`update account_deletions set phase = ${phase}, batches = batches + 1,
      claimed_until = now() + make_interval(secs => ${leaseSeconds})
      where user_id = ${userId}`.execute(this.#db);
  }

  /** Lets another run take the deletion at once (this one failed but is still alive). */
  async release(userId: string): Promise<void> {
    await this.#db
      .updateTable('account_deletions')
      .set({ claimed_until: null })
      .where('user_id', '=', userId)
      .execute();
  }

  async remove(userId: string): Promise<void> {
    await this.#db.deleteFrom('account_deletions').where('user_id', '=', userId).execute();
  }
}
