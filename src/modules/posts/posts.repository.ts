import { sql, type Kysely } from 'kysely';
import type { DB, PostRow, UserRow, Visibility } from '../../infra/db/schema.ts';
import {
  allowedBy,
  mayView,
  notBlockedWith,
  seenCount,
  visibleTo,
} from './visibility.repository.ts';
import { idIn } from '../../infra/db/sql.ts';
import { mediaOfPost, type MediaAttachment } from '../media/media.repository.ts';

/** A post with what every reader needs: its author and whether the viewer liked it. */
export interface HydratedPost extends PostRow {
  author_username: string;
  author_display_name: string;
  liked: boolean;
  /** Its pictures, in order (none: empty). */
  media: MediaAttachment[];
}

/** What hydration reads from the database for each post: never cached. */
export interface PostStats {
  id: string;
  edited_at: Date | null;
  like_count: number;
  comment_count: number;
  liked: boolean;
}

/** SQL for posts, their versions and likes. Visibility is always applied in SQL. */
export class PostsRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /**
   * Posts joined with author and the viewer's like, filtered to what the viewer may see, with
   * counters as the viewer may list them (see `seenCount`).
   */
  #hydrated(viewerId: string | null) {
    return this.#db
      .selectFrom('posts as p')
      .innerJoin('users as u', 'u.id', 'p.author_id')
      .select([
        'p.id',
        'p.author_id',
        'p.text',
        'p.visibility',
        'p.created_at',
        'p.edited_at',
        'p.fan_out',
        mediaOfPost('p.id').as('media'),
        seenCount('like_count', viewerId).as('like_count'),
        seenCount('comment_count', viewerId).as('comment_count'),
        'u.username as author_username',
        'u.display_name as author_display_name',
        viewerId === null
          ? sql<boolean>`false`.as('liked')
          : sql<boolean>`exists (select 1 from likes l where l.post_id = p.id and l.user_id = ${viewerId})`.as(
              'liked',
            ),
      ])
      .where(visibleTo(viewerId));
  }

  /**
   * The same query for lists that other modules filter and order (tag and public timelines,
   * search): every post it returns is one the viewer may see, hydrated like any other.
   */
  selectHydrated(viewerId: string | null) {
    return this.#hydrated(viewerId);
  }

  findVisible(id: string, viewerId: string | null): Promise<HydratedPost | undefined> {
    return this.#hydrated(viewerId).where('p.id', '=', id).executeTakeFirst();
  }

  /** The author's posts the viewer may see, newest first (ids are time-ordered). */
  listByAuthor(
    authorId: string,
    viewerId: string | null,
    beforeId: string | undefined,
    limit: number,
  ) {
    let q = this.#hydrated(viewerId)
      .where('p.author_id', '=', authorId)
      .orderBy('p.id', 'desc')
      .limit(limit);
    if (beforeId !== undefined) q = q.where('p.id', '<', beforeId);
    return q.execute();
  }

  /**
   * Counters and the viewer's like for posts that still exist and that the viewer may see now
   * (hydration after the cache: the database has the last word on existence and visibility, and
   * `edited_at` tells whether a cached text is stale). Counters as the viewer may list them;
   * `blocked` is the viewer's block set when the caller holds it (see `seenCount`).
   */
  stats(
    ids: readonly string[],
    viewerId: string,
    blocked?: readonly string[],
  ): Promise<PostStats[]> {
    return this.#db
      .selectFrom('posts as p')
      .select([
        'p.id',
        'p.edited_at',
        seenCount('like_count', viewerId, blocked).as('like_count'),
        seenCount('comment_count', viewerId, blocked).as('comment_count'),
        sql<boolean>`exists (select 1 from likes l where l.post_id = p.id and l.user_id = ${viewerId})`.as(
          'liked',
        ),
      ])
      .where(idIn('p.id', ids))
      .where(visibleTo(viewerId))
      .execute();
  }

  /** The ids of the post's pictures, in order. */
  async mediaIds(postId: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('media')
      .select('id')
      .where('post_id', '=', postId)
      .where('deleted_at', 'is', null)
      .orderBy('position')
      .execute();
    return rows.map((r) => r.id);
  }

  findById(id: string, forUpdate = false): Promise<PostRow | undefined> {
    let q = this.#db.selectFrom('posts').selectAll().where('id', '=', id);
    if (forUpdate) q = q.forUpdate();
    return q.executeTakeFirst();
  }

  async insert(post: {
    id: string;
    author_id: string;
    text: string;
    visibility: Visibility;
    fan_out: boolean;
  }): Promise<void> {
    await this.#db
      .insertInto('posts')
      // Until the feed consumer has handled it (placed it in its author's and the followers'
      // timelines), readers merge it from the pending list, or from SQL.
      .values({ ...post, edited_at: null, fanout_pending: true })
      .execute();
  }

  /** Keeps the current text as a version, then applies the edit. */
  async edit(
    post: PostRow,
    versionId: string,
    changes: { text: string; visibility: Visibility },
  ): Promise<void> {
    await this.#db
      .insertInto('post_versions')
      .values({
        id: versionId,
        post_id: post.id,
        text: post.text,
        visibility: post.visibility,
        written_at: post.edited_at ?? post.created_at,
      })
      .execute();
    await this.#db
      .updateTable('posts')
      .set({ ...changes, edited_at: new Date() })
      .where('id', '=', post.id)
      .execute();
  }

  async delete(id: string): Promise<void> {
    await this.#db.deleteFrom('posts').where('id', '=', id).execute();
  }

  /**
   * Previous versions, newest first, each only if the viewer could have seen it: widening a
   * post's visibility never reveals what an earlier, narrower version said.
   */
  versions(postId: string, viewerId: string | null, beforeId: string | undefined, limit: number) {
    let q = this.#db
      .selectFrom('post_versions as v')
      .innerJoin('posts as p', 'p.id', 'v.post_id')
      .selectAll('v')
      .where('v.post_id', '=', postId)
      .where(allowedBy(viewerId, 'p.author_id', 'v.visibility'))
      .orderBy('v.id', 'desc')
      .limit(limit);
    if (beforeId !== undefined) q = q.where('v.id', '<', beforeId);
    return q.execute();
  }

  /** Adds `delta` to a post counter and returns the new value (undefined if the post is gone). */
  /** The post's like counter as the viewer may list it (see `seenCount`). */
  async seenLikeCount(postId: string, viewerId: string): Promise<number | undefined> {
    const row = await this.#db
      .selectFrom('posts as p')
      .select(seenCount('like_count', viewerId).as('like_count'))
      .where('p.id', '=', postId)
      .executeTakeFirst();
    return row?.like_count;
  }

  async adjustCount(
    postId: string,
    column: 'like_count' | 'comment_count',
    delta: number,
  ): Promise<number | undefined> {
    const row = await this.#db
      .updateTable('posts')
      .set((eb) => ({ [column]: eb(column, '+', delta) }))
      .where('id', '=', postId)
      .returning(column)
      .executeTakeFirst();
    return row?.[column];
  }

  async hasLike(postId: string, userId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('likes')
      .select('user_id')
      .where('post_id', '=', postId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Which of `userIds` may see the post (none when it is gone), in one query. */
  async seenBy(postId: string, userIds: readonly string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    const rows = await this.#db
      .selectFrom('users as v')
      .innerJoin('posts as p', (join) => join.on('p.id', '=', postId))
      .select('v.id')
      .where(idIn('v.id', userIds))
      .where(mayView(sql.ref('v.id'), sql.ref('p.author_id'), sql.ref('p.visibility')))
      .execute();
    return rows.map((r) => r.id);
  }

  async addLike(postId: string, userId: string): Promise<boolean> {
    const row = await this.#db
      .insertInto('likes')
      .values({ post_id: postId, user_id: userId })
      .onConflict((oc) => oc.doNothing())
      .returning('user_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async removeLike(postId: string, userId: string): Promise<boolean> {
    const row = await this.#db
      .deleteFrom('likes')
      .where('post_id', '=', postId)
      .where('user_id', '=', userId)
      .returning('user_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * The posts the user liked and may still see, newest like first, keyset-paged on (like time,
   * post id).
   */
  likedBy(
    userId: string,
    after: { t: string; id: string } | undefined,
    limit: number,
  ): Promise<(HydratedPost & { liked_at: Date })[]> {
    let q = this.#hydrated(userId)
      .innerJoin('likes as l', (join) =>
        join.onRef('l.post_id', '=', 'p.id').on('l.user_id', '=', userId),
      )
      .select('l.created_at as liked_at')
      .orderBy('l.created_at', 'desc')
      .orderBy('l.post_id', 'desc')
      .limit(limit);
    if (after)
      q = q.where(sql<boolean>`(l.created_at, l.post_id) < (${new Date(after.t)}, ${after.id})`);
    return q.execute();
  }

  /** Who liked the post, newest first, hiding users in a block with the viewer. */
  likers(
    postId: string,
    viewerId: string | null,
    after: { t: string; id: string } | undefined,
    limit: number,
  ): Promise<(UserRow & { liked_at: Date })[]> {
    let q = this.#db
      .selectFrom('likes as l')
      .innerJoin('users as u', 'u.id', 'l.user_id')
      .selectAll('u')
      .select('l.created_at as liked_at')
      .where('l.post_id', '=', postId)
      .where(notBlockedWith(viewerId, 'l.user_id'))
      .orderBy('l.created_at', 'desc')
      .orderBy('u.id', 'desc')
      .limit(limit);
    if (after)
      q = q.where(sql<boolean>`(l.created_at, u.id) < (${new Date(after.t)}, ${after.id})`);
    return q.execute();
  }
}
