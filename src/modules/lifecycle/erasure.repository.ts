import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';

/** What one erasure step removed: how many rows, and whose cached relations changed. */
export interface StepResult {
  removed: number;
  /** Other users whose follows, friends or blocks lost the erased user. */
  touched: string[];
}

/**
 * The SQL of erasing one user, a batch of rows at a time. Every step removes at most `limit` of
 * the user's rows and, in the same statement, takes them off the counters of the other users
 * and posts that counted them, so a batch that commits leaves every counter exact and a batch
 * that does not commit leaves nothing changed. A step that removes nothing is finished.
 */
export class ErasureRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async #count(query: ReturnType<typeof sql<{ n: number }>>): Promise<number> {
    const { rows } = await query.execute(this.#db);
    return Number(rows[0]?.n ?? 0);
  }

  /** The user's likes, off the liked posts' `like_count`. */
  likes(userId: string, limit: number): Promise<number> {
    return this.#count(sql<{ n: number }>`
      with gone as (
        delete from likes where user_id = ${userId} and post_id in (
          select post_id from likes where user_id = ${userId} limit ${limit})
        returning post_id),
      counted as (
        update posts p set like_count = p.like_count - 1 from gone where p.id = gone.post_id
        returning 1)
      select count(*)::int as n from gone`);
  }

  /** The user's comments, off the commented posts' `comment_count`. */
  comments(userId: string, limit: number): Promise<number> {
    return this.#count(sql<{ n: number }>`
      with gone as (
        delete from comments where id in (
          select id from comments where author_id = ${userId} limit ${limit})
        returning post_id),
      per_post as (select post_id, count(*)::int as k from gone group by post_id),
      counted as (
        update posts p set comment_count = p.comment_count - per_post.k from per_post
        where p.id = per_post.post_id returning 1)
      select count(*)::int as n from gone`);
  }

  /**
   * The user's next media rows with their file keys, deleted or not (a picture being removed
   * still has files until the media consumer has run; the erasure does not wait for it).
   */
  nextMedia(
    userId: string,
    limit: number,
  ): Promise<{ id: string; original_key: string; preview_key: string }[]> {
    return this.#db
      .selectFrom('media')
      .select(['id', 'original_key', 'preview_key'])
      .where('owner_id', '=', userId)
      .limit(limit)
      .execute();
  }

  /** Media rows whose files are gone. */
  async deleteMedia(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const { numDeletedRows } = await this.#db
      .deleteFrom('media')
      .where('id', 'in', ids)
      .executeTakeFirst();
    return Number(numDeletedRows);
  }

  /** Ids of the user's next posts (deleted by `deletePosts` once their timelines are cleaned). */
  async nextPosts(userId: string, limit: number): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('posts')
      .select('id')
      .where('author_id', '=', userId)
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Removes posts with everything hanging off them (versions, likes, comments: cascades). */
  async deletePosts(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    // Notifications first, in the order the notifications consumer locks (notification, then
    // post): the cascade from the post would take them the other way round and deadlock.
    await this.#db.deleteFrom('notifications').where('post_id', 'in', ids).execute();
    const { numDeletedRows } = await this.#db
      .deleteFrom('posts')
      .where('id', 'in', ids)
      .executeTakeFirst();
    return Number(numDeletedRows);
  }

  /** Everyone who follows the user (their home timelines hold the user's posts). */
  /** Who liked any of these posts (their cached "liked" lists name them). */
  async likerIds(postIds: readonly string[]): Promise<string[]> {
    if (postIds.length === 0) return [];
    const rows = await this.#db
      .selectFrom('likes')
      .select('user_id')
      .distinct()
      .where('post_id', 'in', postIds)
      .execute();
    return rows.map((r) => r.user_id);
  }

  async followerIds(userId: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('follows')
      .select('follower_id')
      .where('followee_id', '=', userId)
      .execute();
    return rows.map((r) => r.follower_id);
  }

  /**
   * Follows both ways, off the other side's follower or following count. Two statements: a
   * mutual follow would otherwise update the same user row twice in one statement.
   */
  async follows(userId: string, limit: number): Promise<StepResult> {
    const outgoing = await sql<{ other: string }>`
      with gone as (
        delete from follows where follower_id = ${userId} and followee_id in (
          select followee_id from follows where follower_id = ${userId} limit ${limit})
        returning followee_id as other),
      counted as (update users u set follower_count = u.follower_count - 1 from gone
        where u.id = gone.other returning 1)
      select other from gone`.execute(this.#db);
    const incoming = await sql<{ other: string }>`
      with gone as (
        delete from follows where followee_id = ${userId} and follower_id in (
          select follower_id from follows where followee_id = ${userId} limit ${limit})
        returning follower_id as other),
      counted as (update users u set following_count = u.following_count - 1 from gone
        where u.id = gone.other returning 1)
      select other from gone`.execute(this.#db);
    const others = [...outgoing.rows, ...incoming.rows].map((r) => r.other);
    return { removed: others.length, touched: [...new Set(others)] };
  }

  /** Friendships (stored once per direction), off each friend's `friend_count`. */
  async friendships(userId: string, limit: number): Promise<StepResult> {
    const { rows } = await sql<{ other: string }>`
      with mine as (
        delete from friendships where user_id = ${userId} and friend_id in (
          select friend_id from friendships where user_id = ${userId} limit ${limit})
        returning friend_id as other),
      theirs as (
        delete from friendships f using mine where f.user_id = mine.other
          and f.friend_id = ${userId} returning f.user_id),
      counted as (update users u set friend_count = u.friend_count - 1 from theirs
        where u.id = theirs.user_id returning 1)
      select other from mine`.execute(this.#db);
    // A lone reverse row (never expected) goes with the user row's cascade, uncounted.
    return { removed: rows.length, touched: rows.map((r) => r.other) };
  }

  /** Blocks and mutes either way, and friend requests sent or received: no counters. */
  async edges(userId: string, limit: number): Promise<StepResult> {
    const { rows } = await sql<{ other: string }>`
      with b as (
        delete from blocks where (blocker_id, blocked_id) in (
          select blocker_id, blocked_id from blocks
          where blocker_id = ${userId} or blocked_id = ${userId} limit ${limit})
        returning case when blocker_id = ${userId} then blocked_id else blocker_id end as other),
      m as (
        delete from mutes where (muter_id, muted_id) in (
          select muter_id, muted_id from mutes
          where muter_id = ${userId} or muted_id = ${userId} limit ${limit})
        returning case when muter_id = ${userId} then muted_id else muter_id end as other),
      r as (
        delete from friend_requests where id in (
          select id from friend_requests
          where sender_id = ${userId} or recipient_id = ${userId} limit ${limit})
        returning case when sender_id = ${userId} then recipient_id else sender_id end as other)
      select other from b union all select other from m union all select other from r`.execute(
      this.#db,
    );
    return { removed: rows.length, touched: [...new Set(rows.map((r) => r.other))] };
  }

  /**
   * Conversations the user is in: one-to-one, so the whole conversation and its messages go,
   * with the other side's stream events about them (they name the conversation, not the user).
   */
  async conversations(userId: string, limit: number): Promise<number> {
    return this.#count(sql<{ n: number }>`
      with picked as (
        select id from conversations where user_a = ${userId} or user_b = ${userId}
        limit ${limit}),
      events as (
        delete from stream_events s using picked
        where s.data::text like '%' || picked.id::text || '%' returning 1),
      gone as (delete from conversations where id in (select id from picked) returning 1)
      select count(*)::int as n from gone`);
  }

  /**
   * Notifications to the user, and the user as an actor of others' notifications: a grouped
   * notification keeps its other actors (its newest remaining one shown, its count recounted),
   * one with nobody else left goes.
   */
  async notifications(userId: string, limit: number): Promise<number> {
    const own = await this.#count(sql<{ n: number }>`
      with gone as (delete from notifications where id in (
        select id from notifications where user_id = ${userId} limit ${limit}) returning 1)
      select count(*)::int as n from gone`);
    if (own > 0) return own;
    return this.#count(sql<{ n: number }>`
      with picked as (
        select notification_id from notification_actors where actor_id = ${userId}
        limit ${limit}),
      unlinked as (
        delete from notification_actors a using picked
        where a.notification_id = picked.notification_id and a.actor_id = ${userId}
        returning a.notification_id),
      emptied as (
        delete from notifications n using unlinked
        where n.id = unlinked.notification_id and not exists (
          select 1 from notification_actors o where o.notification_id = n.id
            and o.actor_id <> ${userId})
        returning 1),
      regrouped as (
        update notifications n set
          actor_count = (select count(*) from notification_actors o
            where o.notification_id = n.id and o.actor_id <> ${userId}),
          actor_id = case when n.actor_id = ${userId} then (
            select o.actor_id from notification_actors o
            where o.notification_id = n.id and o.actor_id <> ${userId}
            order by o.created_at desc limit 1) else n.actor_id end
        from unlinked where n.id = unlinked.notification_id and exists (
          select 1 from notification_actors o where o.notification_id = n.id
            and o.actor_id <> ${userId})
        returning 1)
      select count(*)::int as n from unlinked`);
  }

  /**
   * Rows that name the user only inside JSON or text: stream events of others (a notification
   * pushed to them), outbox events (published or not: events about an erased user have no one
   * left to serve), and the user's own stream log.
   */
  async mentions(userId: string, limit: number): Promise<number> {
    const pattern = `%${userId}%`;
    return this.#count(sql<{ n: number }>`
      with s as (
        delete from stream_events where (user_id, seq) in (
          select user_id, seq from stream_events
          where user_id = ${userId} or data::text like ${pattern} limit ${limit})
        returning 1),
      o as (
        delete from outbox where id in (
          select id from outbox where data::text like ${pattern} limit ${limit})
        returning 1)
      select (select count(*) from s)::int + (select count(*) from o)::int as n`);
  }

  /** Locks the user row: follows and friendships of others update it, so they wait for us. */
  async lockUser(userId: string): Promise<{ username: string; email: string } | undefined> {
    return this.#db
      .selectFrom('users')
      .select(['username', 'email'])
      .where('id', '=', userId)
      .forUpdate()
      .executeTakeFirst();
  }

  /**
   * The last step: the username is reserved and the user row goes, taking with it every row
   * still pointing at it (sessions, tokens, exports, idempotency keys: nothing counted).
   */
  async removeUser(userId: string, username: string, email: string): Promise<void> {
    await this.#db
      .insertInto('reserved_usernames')
      .values({ username })
      .onConflict((oc) => oc.doNothing())
      .execute();
    await this.#db.deleteFrom('mail_deliveries').where('recipient', '=', email).execute();
    await this.#db.deleteFrom('users').where('id', '=', userId).execute();
  }
}
