import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';

const tagList = (tags: readonly string[]) => sql`${[...tags]}::text[]`;

/** SQL for tags: which posts carry them, and who follows them. */
export class TagsRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /**
   * Makes the post carry exactly `tags` (on create, in the post's transaction). One statement
   * either way, none for an untagged new post, so tagging adds little to a write.
   */
  async setForPost(
    postId: string,
    authorId: string,
    tags: readonly string[],
    replace = false,
  ): Promise<void> {
    if (tags.length === 0 && !replace) return;
    const list = tagList(tags);
    const gone = replace
      ? sql`gone as (delete from post_tags where post_id = ${postId} and tag <> all(${list})),`
      : sql``;
    await sql`with ${gone} known as (
        insert into tags (name) select unnest(${list}) on conflict do nothing)
      insert into post_tags (tag, post_id, author_id)
      select unnest(${list}), ${postId}::uuid, ${authorId}::uuid
      on conflict do nothing`.execute(this.#db);
  }

  /** True when the follow was added (false: it existed). */
  async follow(userId: string, tag: string): Promise<boolean> {
    const { rows } = await sql`insert into tag_follows (user_id, tag) values (${userId}, ${tag})
      on conflict do nothing returning tag`.execute(this.#db);
    return rows.length > 0;
  }

  async unfollow(userId: string, tag: string): Promise<boolean> {
    const { rows } = await sql`delete from tag_follows where user_id = ${userId} and tag = ${tag}
      returning tag`.execute(this.#db);
    return rows.length > 0;
  }

  async isFollowing(userId: string, tag: string): Promise<boolean> {
    const { rows } = await sql`select 1 from tag_follows
      where user_id = ${userId} and tag = ${tag}`.execute(this.#db);
    return rows.length > 0;
  }

  /** Which of `tags` the user follows. */
  async followedAmong(userId: string, tags: readonly string[]): Promise<Set<string>> {
    if (tags.length === 0) return new Set();
    const { rows } = await sql<{ tag: string }>`select tag from tag_follows
      where user_id = ${userId} and tag = any(${tagList(tags)})`.execute(this.#db);
    return new Set(rows.map((r) => r.tag));
  }

  /** The user's followed tags by name, after `afterName`. */
  async followed(userId: string, afterName: string | undefined, limit: number) {
    const after = afterName === undefined ? sql`true` : sql`tag > ${afterName}`;
    const { rows } = await sql<{ tag: string; created_at: Date }>`
      select tag, created_at from tag_follows where user_id = ${userId} and ${after}
      order by tag limit ${limit}`.execute(this.#db);
    return rows;
  }

  /** The post's tags. */
  async tagsOf(postId: string): Promise<string[]> {
    const { rows } = await sql<{ tag: string }>`select tag from post_tags
      where post_id = ${postId} order by tag`.execute(this.#db);
    return rows.map((r) => r.tag);
  }

  /** A batch of the users who follow any of `tags`, in id order after `afterId`. */
  async followerBatch(tags: readonly string[], afterId: string | undefined, size: number) {
    const after = afterId === undefined ? sql`true` : sql`user_id > ${afterId}`;
    const { rows } = await sql<{ user_id: string }>`
      select distinct user_id from tag_follows where tag = any(${tagList(tags)}) and ${after}
      order by user_id limit ${size}`.execute(this.#db);
    return rows.map((r) => r.user_id);
  }

  /**
   * Of `postIds`, the public ones carrying a tag the viewer follows, by authors they have not
   * muted: what followed tags add to their home feed (blocks and deletions are checked by the
   * feed's own hydration).
   */
  async followedTagPosts(viewerId: string, postIds: readonly string[]): Promise<Set<string>> {
    if (postIds.length === 0) return new Set();
    const { rows } = await sql<{ id: string }>`
      select distinct p.id from posts p
      join post_tags pt on pt.post_id = p.id
      join tag_follows tf on tf.tag = pt.tag and tf.user_id = ${viewerId}
      where p.id = any(${[...postIds]}::uuid[]) and p.visibility = 'public'
        and not exists (select 1 from mutes m
          where m.muter_id = ${viewerId} and m.muted_id = p.author_id)`.execute(this.#db);
    return new Set(rows.map((r) => r.id));
  }
}
