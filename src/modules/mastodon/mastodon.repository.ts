import { sql, type Kysely } from 'kysely';
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

  /** Which of these ids are comments' (a status id is a post's or a comment's). */
  async commentIds(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.#db
      .selectFrom('comments')
      .select('id')
      .where('id', 'in', ids)
      .execute();
    return new Set(rows.map((r) => r.id));
  }

  /** Removes the user's notifications (all, or those with these ids); how many went. */
  async dismissNotifications(userId: string, ids?: readonly string[]): Promise<number> {
    let q = this.#db.deleteFrom('notifications').where('user_id', '=', userId);
    if (ids) q = q.where('id', 'in', ids);
    const result = await q.executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  /** The user's markers of these timelines. */
  markers(userId: string, timelines: readonly string[]) {
    if (timelines.length === 0) return Promise.resolve([]);
    return this.#db
      .selectFrom('mastodon_markers')
      .selectAll()
      .where('user_id', '=', userId)
      .where('timeline', 'in', timelines)
      .execute();
  }

  /** Sets a marker; concurrent writes each count (one statement, no read-modify-write). */
  setMarker(userId: string, timeline: string, lastReadId: string) {
    return this.#db
      .insertInto('mastodon_markers')
      .values({ user_id: userId, timeline, last_read_id: lastReadId })
      .onConflict((oc) =>
        oc.columns(['user_id', 'timeline']).doUpdateSet({
          last_read_id: lastReadId,
          version: sql<number>`mastodon_markers.version + 1`,
          updated_at: sql<Date>`now()`,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Ids of the user's unread notifications up to `lastReadId` (at most `limit`). */
  async unreadNotificationIds(userId: string, lastReadId: string, limit: number) {
    const rows = await this.#db
      .selectFrom('notifications')
      .select('id')
      .where('user_id', '=', userId)
      .where('id', '<=', lastReadId)
      .where('read_at', 'is', null)
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }
}
