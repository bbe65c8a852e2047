import type { Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';

/** SQL the Mastodon presentation needs that kith's own API has no query for. */
export class MastodonRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Ids of the user's notifications of these kith types, newest created first. */
  notificationIds(
    userId: string,
    types: readonly string[],
    beforeId: string | undefined,
    limit: number,
  ): Promise<{ id: string }[]> {
    if (types.length === 0) return Promise.resolve([]);
    let q = this.#db
      .selectFrom('notifications')
      .select('id')
      .where('user_id', '=', userId)
      .where('type', 'in', types)
      .orderBy('id', 'desc')
      .limit(limit);
    if (beforeId !== undefined) q = q.where('id', '<', beforeId);
    return q.execute();
  }

  /** Removes the user's notifications (all, or those with these ids); how many went. */
  async dismissNotifications(userId: string, ids?: readonly string[]): Promise<number> {
    let q = this.#db.deleteFrom('notifications').where('user_id', '=', userId);
    if (ids) q = q.where('id', 'in', ids);
    const result = await q.executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
