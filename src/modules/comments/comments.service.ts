import type { Kysely } from 'kysely';
import { ForbiddenError, NotFoundError } from '../../errors.ts';
import type { CommentRow, DB } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { newId } from '../../ids.ts';
import { cleanText } from '../../text.ts';
import { createOnce, type IdempotencyKey } from '../idempotency/idempotency.ts';
import { PostsRepository } from '../posts/posts.repository.ts';
import { postNotFound } from '../posts/posts.service.ts';
import { notBlockedWith } from '../posts/visibility.ts';
import { CommentsRepository, type HydratedComment } from './comments.repository.ts';

export const COMMENT_MAX = 2_000;

const commentNotFound = () => new NotFoundError('comment_not_found', 'No such comment.');

/** Comments on posts the commenter can see. The post's author may delete any comment on it. */
export class CommentsService {
  readonly #db: Kysely<DB>;
  readonly #comments: CommentsRepository;

  constructor(db: Kysely<DB>) {
    this.#db = db;
    this.#comments = new CommentsRepository(db);
  }

  async create(
    viewerId: string,
    postId: string,
    rawText: string,
    idem?: IdempotencyKey,
  ): Promise<{ comment: HydratedComment; replayed: boolean }> {
    const text = cleanText(rawText, '/text', { min: 1, max: COMMENT_MAX, multiline: true });
    const created = await transaction(this.#db, async (trx) => {
      const posts = new PostsRepository(trx);
      if (!(await posts.findVisible(postId, viewerId))) throw postNotFound();
      return createOnce(trx, viewerId, `comments.create:${postId}`, idem, async () => {
        const id = newId();
        await new CommentsRepository(trx).insert({
          id,
          post_id: postId,
          author_id: viewerId,
          text,
        });
        await posts.adjustCount(postId, 'comment_count', 1);
        return id;
      });
    });
    const comment = await this.#comments.findHydrated(created.id);
    if (!comment) throw commentNotFound();
    return { comment, replayed: created.replayed };
  }

  async list(viewerId: string | null, postId: string, afterId: string | undefined, limit: number) {
    if (!(await new PostsRepository(this.#db).findVisible(postId, viewerId))) throw postNotFound();
    return this.#comments.listForPost(postId, viewerId, afterId, limit);
  }

  async update(viewerId: string, id: string, rawText: string): Promise<HydratedComment> {
    const text = cleanText(rawText, '/text', { min: 1, max: COMMENT_MAX, multiline: true });
    await transaction(this.#db, async (trx) => {
      const { comment } = await this.#visibleComment(trx, viewerId, id);
      if (comment.author_id !== viewerId)
        throw new ForbiddenError('not_author', 'Only the author can edit this comment.');
      await new CommentsRepository(trx).updateText(id, text);
    });
    return (await this.#comments.findHydrated(id))!;
  }

  async delete(viewerId: string, id: string): Promise<void> {
    await transaction(this.#db, async (trx) => {
      const { comment, postAuthorId } = await this.#visibleComment(trx, viewerId, id);
      if (comment.author_id !== viewerId && postAuthorId !== viewerId) {
        throw new ForbiddenError(
          'not_author',
          "Only the comment's author or the post's author can delete it.",
        );
      }
      await new CommentsRepository(trx).delete(id);
      await new PostsRepository(trx).adjustCount(comment.post_id, 'comment_count', -1);
    });
  }

  /** The comment, locked, when the viewer can see both it and its post; otherwise 404. */
  async #visibleComment(
    trx: Kysely<DB>,
    viewerId: string,
    id: string,
  ): Promise<{ comment: CommentRow; postAuthorId: string }> {
    const comment = await new CommentsRepository(trx).findById(id, true);
    if (!comment) throw commentNotFound();
    const post = await new PostsRepository(trx).findVisible(comment.post_id, viewerId);
    if (!post) throw commentNotFound();
    const authorVisible = await trx
      .selectFrom('users')
      .select('id')
      .where('id', '=', comment.author_id)
      .where(notBlockedWith(viewerId, 'users.id'))
      .executeTakeFirst();
    if (!authorVisible) throw commentNotFound();
    return { comment, postAuthorId: post.author_id };
  }
}
