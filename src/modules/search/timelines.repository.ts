import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import { PostsRepository, type HydratedPost } from '../posts/posts.repository.ts';
import { discoverableTo } from './discoverable.repository.ts';

/**
 * The public and tag timelines: public posts only (whoever the viewer is), newest first, keyset
 * paged by id. Each reads an index in id order (posts_public, or post_tags' primary key) and
 * stops after `limit` discoverable posts.
 */
export class TimelinesRepository {
  readonly #posts: PostsRepository;
  constructor(db: Kysely<DB>) {
    this.#posts = new PostsRepository(db);
  }

  publicPosts(viewerId: string | null, beforeId: string | undefined, limit: number) {
    let q = this.#posts
      .selectHydrated(viewerId)
      .where('p.visibility', '=', 'public')
      .where(discoverableTo(viewerId))
      .orderBy('p.id', 'desc')
      .limit(limit);
    if (beforeId !== undefined) q = q.where('p.id', '<', beforeId);
    return q.execute();
  }

  /** One post, if it is on the public timeline as the viewer reads it (the same rule). */
  publicPost(viewerId: string | null, postId: string): Promise<HydratedPost | undefined> {
    return this.#posts
      .selectHydrated(viewerId)
      .where('p.id', '=', postId)
      .where('p.visibility', '=', 'public')
      .where(discoverableTo(viewerId))
      .executeTakeFirst();
  }

  tagPosts(
    viewerId: string | null,
    tag: string,
    beforeId: string | undefined,
    limit: number,
  ): Promise<HydratedPost[]> {
    const before = beforeId === undefined ? sql`` : sql`and pt.post_id < ${beforeId}`;
    return this.#posts
      .selectHydrated(viewerId)
      .where(
        'p.id',
        'in',
        sql<string>`(select pt.post_id from post_tags pt join posts p on p.id = pt.post_id
          where pt.tag = ${tag} ${before} and p.visibility = 'public'
            and ${discoverableTo(viewerId)}
          order by pt.post_id desc limit ${limit})`,
      )
      .orderBy('p.id', 'desc')
      .execute();
  }
}
