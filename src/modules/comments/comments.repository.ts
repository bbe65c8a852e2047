import type { Kysely } from 'kysely';
import type { CommentRow, DB, Visibility } from '../../infra/db/schema.ts';
import { notBlockedWith, visibleTo } from '../posts/visibility.repository.ts';

export interface HydratedComment extends CommentRow {
  author_username: string;
  author_display_name: string;
}

/** A comment with its post's author and visibility (who may see the post may see the comment). */
export interface CommentInThread extends HydratedComment {
  post_author_id: string;
  post_visibility: Visibility;
}

/** SQL for comments. */
export class CommentsRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async insert(comment: {
    id: string;
    post_id: string;
    author_id: string;
    text: string;
  }): Promise<void> {
    await this.#db
      .insertInto('comments')
      .values({ ...comment, edited_at: null })
      .execute();
  }

  findById(id: string, forUpdate = false): Promise<CommentRow | undefined> {
    let q = this.#db.selectFrom('comments').selectAll().where('id', '=', id);
    if (forUpdate) q = q.forUpdate();
    return q.executeTakeFirst();
  }

  #hydrated() {
    return this.#db
      .selectFrom('comments as c')
      .innerJoin('users as u', 'u.id', 'c.author_id')
      .selectAll('c')
      .select(['u.username as author_username', 'u.display_name as author_display_name']);
  }

  findHydrated(id: string): Promise<HydratedComment | undefined> {
    return this.#hydrated().where('c.id', '=', id).executeTakeFirst();
  }

  /**
   * Comments with their post, only those the viewer may see: on a post they may see, by someone
   * not in a block with them.
   */
  #visible(viewerId: string | null) {
    return this.#hydrated()
      .innerJoin('posts as p', 'p.id', 'c.post_id')
      .select(['p.author_id as post_author_id', 'p.visibility as post_visibility'])
      .where(visibleTo(viewerId))
      .where(notBlockedWith(viewerId, 'c.author_id'));
  }

  findVisible(id: string, viewerId: string | null): Promise<CommentInThread | undefined> {
    return this.#visible(viewerId).where('c.id', '=', id).executeTakeFirst();
  }

  /** The author's comments the viewer may see, newest first (ids are time-ordered). */
  listByAuthor(
    authorId: string,
    viewerId: string | null,
    beforeId: string | undefined,
    limit: number,
  ): Promise<CommentInThread[]> {
    let q = this.#visible(viewerId)
      .where('c.author_id', '=', authorId)
      .orderBy('c.id', 'desc')
      .limit(limit);
    if (beforeId !== undefined) q = q.where('c.id', '<', beforeId);
    return q.execute();
  }

  /** Comments on a post, oldest first, without those of users in a block with the viewer. */
  listForPost(postId: string, viewerId: string | null, afterId: string | undefined, limit: number) {
    let q = this.#hydrated()
      .where('c.post_id', '=', postId)
      .where(notBlockedWith(viewerId, 'c.author_id'))
      .orderBy('c.id', 'asc')
      .limit(limit);
    if (afterId !== undefined) q = q.where('c.id', '>', afterId);
    return q.execute();
  }

  async updateText(id: string, text: string): Promise<void> {
    await this.#db
      .updateTable('comments')
      .set({ text, edited_at: new Date() })
      .where('id', '=', id)
      .execute();
  }

  async delete(id: string): Promise<void> {
    await this.#db.deleteFrom('comments').where('id', '=', id).execute();
  }
}
