import { sql, type Kysely } from 'kysely';
import { isUniqueViolation } from '../../infra/db/database.ts';
import type { DB, DsbMedia, DsbMention } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import { mediaOfPost } from '../media/media.repository.ts';
import { visibleTo } from '../posts/visibility.repository.ts';

/** A kith user as DSB addresses them. */
export interface DsbUser {
  dsb_id: string;
  id: string;
  username: string;
}

/** The DSB fields of a composed post. */
export interface DsbPostFields {
  post_id: string;
  creator_dsb_id: string;
  req_id: string;
  post_type: number;
  media: DsbMedia[];
  mentions: DsbMention[];
}

/** SQL for the DeathStarBench tables (see migration 0007-dsb). */
export class DsbRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  findByDsbId(dsbId: string): Promise<DsbUser | undefined> {
    return this.#db
      .selectFrom('dsb_users as d')
      .innerJoin('users as u', 'u.id', 'd.user_id')
      .select(['d.dsb_id', 'u.id', 'u.username'])
      .where('d.dsb_id', '=', dsbId)
      .executeTakeFirst();
  }

  /** False when the DSB id (or the kith user) is already mapped. */
  async map(dsbId: string, userId: string): Promise<boolean> {
    try {
      await this.#db.insertInto('dsb_users').values({ dsb_id: dsbId, user_id: userId }).execute();
      return true;
    } catch (err) {
      if (
        isUniqueViolation(err, 'dsb_users_pkey') ||
        isUniqueViolation(err, 'dsb_users_user_id_key')
      )
        return false;
      throw err;
    }
  }

  /** Users with these (lower-case) usernames, with their DSB id when they have one. */
  findByUsernames(usernames: readonly string[]) {
    if (usernames.length === 0) return Promise.resolve([]);
    return this.#db
      .selectFrom('users as u')
      .leftJoin('dsb_users as d', 'd.user_id', 'u.id')
      .select(['u.id', 'u.username', 'd.dsb_id'])
      .where('u.username', 'in', usernames)
      .execute();
  }

  /** DSB ids of these kith users (those that have one). */
  async dsbIds(userIds: readonly string[]): Promise<Map<string, string>> {
    if (userIds.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('dsb_users')
      .select(['user_id', 'dsb_id'])
      .where('user_id', 'in', userIds)
      .execute();
    return new Map(rows.map((r) => [r.user_id, r.dsb_id]));
  }

  /** Stores a post's DSB fields and delivers it to the users it mentions, in one transaction. */
  save(fields: DsbPostFields, mentionedIds: readonly string[]): Promise<void> {
    return transaction(this.#db, async (trx) => {
      await trx
        .insertInto('dsb_posts')
        .values({
          ...fields,
          media: JSON.stringify(fields.media),
          mentions: JSON.stringify(fields.mentions),
        })
        .execute();
      if (mentionedIds.length > 0) {
        await trx
          .insertInto('dsb_mentions')
          .values(mentionedIds.map((user_id) => ({ user_id, post_id: fields.post_id })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
    });
  }

  fieldsOf(postIds: readonly string[]): Promise<DsbPostFields[]> {
    if (postIds.length === 0) return Promise.resolve([]);
    return this.#db.selectFrom('dsb_posts').selectAll().where('post_id', 'in', postIds).execute();
  }

  /**
   * Public posts that mention the user and that they may see, newest first: DSB puts these in
   * the mentioned user's home timeline.
   */
  mentioning(userId: string, limit: number): Promise<HydratedPost[]> {
    return this.#db
      .selectFrom('dsb_mentions as m')
      .innerJoin('posts as p', 'p.id', 'm.post_id')
      .innerJoin('users as u', 'u.id', 'p.author_id')
      .selectAll('p')
      .select([
        'u.username as author_username',
        'u.display_name as author_display_name',
        sql<boolean>`false`.as('liked'),
        mediaOfPost('p.id').as('media'),
      ])
      .where('m.user_id', '=', userId)
      .where('p.visibility', '=', 'public')
      .where(visibleTo(userId))
      .orderBy('m.post_id', 'desc')
      .limit(limit)
      .execute();
  }
}
