import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB, Visibility } from '../../infra/db/schema.ts';
import type { PostStats } from '../posts/posts.repository.ts';
import { mayView, seenCount, visibleTo } from '../posts/visibility.repository.ts';
import { SocialRepository } from '../social/social.repository.ts';

const olderThan = (beforeId: string | undefined): RawBuilder<boolean> =>
  beforeId === undefined ? sql<boolean>`true` : sql<boolean>`p.id < ${beforeId}`;

const notMutedBy = (viewerId: string, author: RawBuilder<string>): RawBuilder<boolean> =>
  sql<boolean>`not exists (select 1 from mutes m where m.muter_id = ${viewerId} and m.muted_id = ${author})`;

const ids = async (q: RawBuilder<{ id: string }>, db: Kysely<DB>) =>
  (await q.execute(db)).rows.map((r) => r.id);

/**
 * The home feed in SQL. Each query walks the followees and takes each one's newest posts from
 * the (author_id, id) index (a lateral join), so its cost follows the number of followees and
 * the page size, never the size of the posts table.
 */
export class FeedRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /**
   * The whole feed, newest first: own posts and followees' posts the viewer may see, minus muted
   * authors. Serves pages past the cached timeline, reads without a timeline store, and is the
   * definition the tests compare the timelines against.
   */
  feedIds(viewerId: string, beforeId: string | undefined, limit: number): Promise<string[]> {
    return ids(
      sql<{ id: string }>`
        select p.id from (
          select ${viewerId}::uuid as author_id
          union all select followee_id from follows where follower_id = ${viewerId}
        ) a
        cross join lateral (
          select p.id from posts p
          where p.author_id = a.author_id and ${olderThan(beforeId)} and ${visibleTo(viewerId)}
          order by p.id desc limit ${limit}
        ) p
        where ${notMutedBy(viewerId, sql.ref('a.author_id'))}
        order by p.id desc limit ${limit}`,
      this.#db,
    );
  }

  /**
   * What a home timeline holds when rebuilt: the newest `cap` fanned-out posts of the people the
   * user follows, whatever their visibility (that is checked when read, so a later change of
   * visibility or a mute is respected without touching the timeline).
   */
  timelineIds(userId: string, cap: number): Promise<string[]> {
    return ids(
      sql<{ id: string }>`
        select p.id from follows f
        cross join lateral (
          select p.id from posts p
          where p.author_id = f.followee_id and p.fan_out
          order by p.id desc limit ${cap}
        ) p
        where f.follower_id = ${userId}
        order by p.id desc limit ${cap}`,
      this.#db,
    );
  }

  /**
   * One feed page's counters in one query: for the timeline's `ids` and for the posts merged in
   * at read time (the viewer's own, for read-your-writes without waiting for the fan-out; those
   * of followed big accounts, which are never fanned out; and followees' posts whose fan-out has
   * not completed, so a post acknowledged before the read is in it whatever the timeline store
   * missed), the rows the viewer may see, with counters as the viewer may list them (`blocked`:
   * the viewer's block set, from the cached relations, see `seenCount`), the viewer's like, and
   * whether the post was merged in. The last two come from one small partial index
   * (posts_merged).
   */
  pageStats(
    viewerId: string,
    ids: readonly string[],
    beforeId: string | undefined,
    limit: number,
    blocked: readonly string[],
  ): Promise<(PostStats & { merged: boolean })[]> {
    return sql<PostStats & { merged: boolean }>`
      with merged as (
        (select p.id from posts p
         where p.author_id = ${viewerId} and ${olderThan(beforeId)}
         order by p.id desc limit ${limit})
        union all
        (select p.id from follows f
         cross join lateral (
           select p.id from posts p
           where p.author_id = f.followee_id and (not p.fan_out or p.fanout_pending)
             and ${olderThan(beforeId)} and ${visibleTo(viewerId)}
           order by p.id desc limit ${limit}
         ) p
         where f.follower_id = ${viewerId} and ${notMutedBy(viewerId, sql.ref('f.followee_id'))}
         order by p.id desc limit ${limit}))
      select p.id, p.edited_at,
        ${seenCount('like_count', viewerId, blocked)} as like_count,
        ${seenCount('comment_count', viewerId, blocked)} as comment_count,
        exists (select 1 from likes l where l.post_id = p.id and l.user_id = ${viewerId}) as liked,
        p.id in (select id from merged) as merged
      from posts p
      where p.id in (select unnest(${[...ids]}::uuid[]) union select id from merged)
        and ${visibleTo(viewerId)}`
      .execute(this.#db)
      .then((r) => r.rows);
  }

  /** The author's newest post ids (only fanned-out ones with `fanOutOnly`). */
  async recentPostIds(authorId: string, limit: number, fanOutOnly: boolean): Promise<string[]> {
    let q = this.#db
      .selectFrom('posts')
      .select('id')
      .where('author_id', '=', authorId)
      .orderBy('id', 'desc')
      .limit(limit);
    if (fanOutOnly) q = q.where('fan_out', '=', true);
    return (await q.execute()).map((r) => r.id);
  }

  /** The newest posts whose `post.created` the feed consumer has not handled yet. */
  pendingPosts(limit: number): Promise<{ id: string; author_id: string }[]> {
    return this.#db
      .selectFrom('posts')
      .select(['id', 'author_id'])
      .where('fanout_pending', '=', true)
      .orderBy('id', 'desc')
      .limit(limit)
      .execute();
  }

  /**
   * Whether a post of the author other than `postId`, not fanned out, was already handled by the
   * feed consumer (which then told the followers' relations). Posts still pending do not count:
   * several events handled at once must not each take the others as the one that told.
   */
  async wasBig(authorId: string, postId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('posts')
      .select('id')
      .where('author_id', '=', authorId)
      .where('fan_out', '=', false)
      .where('fanout_pending', '=', false)
      .where('id', '!=', postId)
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** The posts are in every follower's timeline: readers stop merging them from SQL. */
  async fannedOut(postIds: readonly string[]): Promise<void> {
    if (postIds.length === 0) return;
    await this.#db
      .updateTable('posts')
      .set({ fanout_pending: false })
      .where('id', '=', sql<string>`any(${[...postIds]}::uuid[])`)
      .where('fanout_pending', '=', true)
      .execute();
  }

  /**
   * Posts written but not yet fanned out to every follower, and the age of the oldest (0 when
   * none): the fan-out backlog. A few rows at any time, from the partial index on fanout_pending.
   */
  async fanoutBacklog(): Promise<{ count: number; oldestSeconds: number }> {
    const { rows } = await sql<{ count: number; oldest: number | null }>`
      select count(*)::int as count,
        extract(epoch from now() - min(created_at))::float8 as oldest
      from posts where fanout_pending`.execute(this.#db);
    return { count: rows[0]?.count ?? 0, oldestSeconds: Math.max(0, rows[0]?.oldest ?? 0) };
  }

  /**
   * A batch of the author's followers in id order, each with whether they count as active and,
   * when `visibility` is given, whether they may see a post of the author with it now (the rule
   * of `mayView`, asked in the same statement: one round trip per batch).
   */
  followerBatch(
    authorId: string,
    afterId: string | undefined,
    size: number,
    activeSince: Date,
    visibility?: Visibility,
  ): Promise<{ id: string; active: boolean; may: boolean }[]> {
    const may =
      visibility === undefined
        ? sql<boolean>`false`
        : mayView(sql.ref('f.follower_id'), sql`${authorId}::uuid`, sql`${visibility}::text`);
    let q = this.#db
      .selectFrom('follows as f')
      .innerJoin('users as u', 'u.id', 'f.follower_id')
      .select([
        'f.follower_id as id',
        sql<boolean>`u.last_active_at > ${activeSince}`.as('active'),
        may.as('may'),
      ])
      .where('f.followee_id', '=', authorId)
      .orderBy('f.follower_id')
      .limit(size);
    if (afterId !== undefined) q = q.where('f.follower_id', '>', afterId);
    return q.execute();
  }

  follows(followerId: string, followeeId: string): Promise<boolean> {
    return new SocialRepository(this.#db).isFollowing(followerId, followeeId);
  }

  /** The post as fan-out needs it, or undefined once deleted. */
  findPost(id: string) {
    return this.#db
      .selectFrom('posts')
      .select(['id', 'author_id', 'visibility', 'fan_out', 'created_at'])
      .where('id', '=', id)
      .executeTakeFirst();
  }
}
