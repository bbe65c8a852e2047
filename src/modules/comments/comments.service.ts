import type { Kysely } from 'kysely';
import { ForbiddenError, NotFoundError } from '../../errors.ts';
import type { CommentRow, DB } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { newId } from '../../ids.ts';
import { cleanText } from '../../text.ts';
import { createOnce, type IdempotencyKey } from '../../infra/db/idempotency.ts';
import { PostsRepository } from '../posts/posts.repository.ts';
import type { PostCountersCache } from '../posts/post-counters.cache.ts';
import { postNotFound } from '../posts/posts.service.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import {
  CommentsRepository,
  type CommentInThread,
  type HydratedComment,
} from './comments.repository.ts';
import { recordEvent } from '../../events/outbox.ts';

export const COMMENT_MAX = 2_000;

const commentNotFound = () => new NotFoundError('comment_not_found', 'No such comment.');

/** Comments on posts the commenter can see. The post's author may delete any comment on it. */
export class CommentsService {
  readonly #db: Kysely<DB>;
  readonly #comments: CommentsRepository;
  readonly #counters: PostCountersCache;

  constructor(db: Kysely<DB>, counters: PostCountersCache) {
    this.#db = db;
    this.#comments = new CommentsRepository(db);
    this.#counters = counters;
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
      const post = await posts.findVisible(postId, viewerId);
      if (!post) throw postNotFound();
      return createOnce(trx, viewerId, `comments.create:${postId}`, idem, async () => {
        const id = newId();
        await new CommentsRepository(trx).insert({
          id,
          post_id: postId,
          author_id: viewerId,
          text,
        });
        await recordEvent(trx, 'comment.created', {
          comment_id: id,
          post_id: postId,
          author_id: viewerId,
          post_author_id: post.author_id,
        });
        // Last: a popular post's row stays locked for the rest of the transaction.
        await posts.adjustCount(postId, 'comment_count', 1);
        return id;
      });
    });
    if (!created.replayed) await this.#counters.invalidate(postId);
    const comment = await this.#comments.findHydrated(created.id);
    if (!comment) throw commentNotFound();
    return { comment, replayed: created.replayed };
  }

  async list(viewerId: string | null, postId: string, afterId: string | undefined, limit: number) {
    if (!(await new PostsRepository(this.#db).findVisible(postId, viewerId))) throw postNotFound();
    return this.#comments.listForPost(postId, viewerId, afterId, limit);
  }

  /** A comment the viewer may see (its post visible to them, its author not in a block). */
  async get(viewerId: string | null, id: string): Promise<CommentInThread> {
    const comment = await this.#comments.findVisible(id, viewerId);
    if (!comment) throw commentNotFound();
    return comment;
  }

  /** The user's comments the viewer may see, newest first. */
  byAuthor(viewerId: string | null, authorId: string, beforeId: string | undefined, limit: number) {
    return this.#comments.listByAuthor(authorId, viewerId, beforeId, limit);
  }

  async update(viewerId: string, id: string, rawText: string): Promise<HydratedComment> {
    const text = cleanText(rawText, '/text', { min: 1, max: COMMENT_MAX, multiline: true });
    await transaction(this.#db, async (trx) => {
      await this.#authorize(trx, viewerId, id, (comment) => comment.author_id === viewerId);
      await new CommentsRepository(trx).updateText(id, text);
    });
    return (await this.#comments.findHydrated(id))!;
  }

  async delete(viewerId: string, id: string): Promise<void> {
    const postId = await transaction(this.#db, async (trx) => {
      const comment = await this.#authorize(
        trx,
        viewerId,
        id,
        (c, postAuthorId) => c.author_id === viewerId || postAuthorId === viewerId,
      );
      await new CommentsRepository(trx).delete(id);
      await new PostsRepository(trx).adjustCount(comment.post_id, 'comment_count', -1);
      return comment.post_id;
    });
    await this.#counters.invalidate(postId);
  }

  /** Deletes a comment on a moderator's decision; false when it was already gone. */
  async removeByModerator(id: string): Promise<boolean> {
    const postId = await transaction(this.#db, async (trx) => {
      const comment = await new CommentsRepository(trx).findById(id, true);
      if (!comment) return undefined;
      await new CommentsRepository(trx).delete(id);
      await new PostsRepository(trx).adjustCount(comment.post_id, 'comment_count', -1);
      return comment.post_id;
    });
    if (postId !== undefined) await this.#counters.invalidate(postId);
    return postId !== undefined;
  }

  /**
   * Locks the comment and checks `allowed`. Whoever may not see it (or its post) gets 404;
   * whoever sees it but may not act gets 403. A post's author keeps the right to remove a
   * comment even from someone they have blocked since.
   */
  async #authorize(
    trx: Kysely<DB>,
    viewerId: string,
    id: string,
    allowed: (comment: CommentRow, postAuthorId: string) => boolean,
  ): Promise<CommentRow> {
    const comment = await new CommentsRepository(trx).findById(id, true);
    if (!comment) throw commentNotFound();
    const post = await new PostsRepository(trx).findVisible(comment.post_id, viewerId);
    if (!post) throw commentNotFound();
    if (allowed(comment, post.author_id)) return comment;
    // A comment by someone in a block with the viewer is hidden from them: not found.
    if (await new UsersRepository(trx).inBlock(viewerId, comment.author_id)) {
      throw commentNotFound();
    }
    throw new ForbiddenError(
      'not_author',
      "Only the comment's author (or, to delete it, the post's author) may do this.",
    );
  }
}
