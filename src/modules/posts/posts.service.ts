import type { Kysely } from 'kysely';
import { ForbiddenError, NotFoundError } from '../../errors.ts';
import type { DB, PostRow, Visibility } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { newId } from '../../ids.ts';
import { cleanText } from '../../text.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { UsersService } from '../accounts/users.service.ts';
import { createOnce, type IdempotencyKey } from '../../infra/db/idempotency.ts';
import { PostsRepository, type HydratedPost } from './posts.repository.ts';
import { recordEvent } from '../../events/outbox.ts';
import type { PostContentCache } from './post-content.cache.ts';
import type { PostCountersCache } from './post-counters.cache.ts';
import type { LikedCache } from './liked.cache.ts';
import { hashtagsOf, mentionedUsernames } from '../../text.ts';
import { TagsRepository } from '../search/tags.repository.ts';
import { attachMedia } from '../media/media.service.ts';

export const POST_MAX = 5_000;

export interface PostInput {
  text: string;
  visibility?: Visibility | undefined;
  /** Uploaded pictures, in order (see the media module); on an edit, the full new list. */
  media_ids?: string[] | undefined;
}

export interface PostsOptions {
  /** Authors with more followers are not fanned out; their posts are merged at read time. */
  fanoutMaxFollowers: number;
  counters: PostCountersCache;
  liked: LikedCache;
  /** After a post commits: feed readers list it until its fan-out has run. */
  onCreated: (postId: string, authorId: string) => Promise<void>;
  /** Pictures one post may carry. */
  maxMediaPerPost: number;
}

export interface LikeState {
  liked: boolean;
  like_count: number;
  changed: boolean;
}

export const postNotFound = () => new NotFoundError('post_not_found', 'No such post.');
const notAuthor = () => new ForbiddenError('not_author', 'Only the author can change this post.');

/** Posts, their edit history, and likes. Whoever may not see a post gets a 404, never a hint. */
export class PostsService {
  readonly #db: Kysely<DB>;
  readonly #users: UsersService;
  readonly #posts: PostsRepository;
  readonly #contents: PostContentCache;
  readonly #opts: PostsOptions;

  constructor(db: Kysely<DB>, users: UsersService, contents: PostContentCache, opts: PostsOptions) {
    this.#db = db;
    this.#users = users;
    this.#posts = new PostsRepository(db);
    this.#contents = contents;
    this.#opts = opts;
  }

  async create(
    authorId: string,
    input: PostInput,
    idem?: IdempotencyKey,
  ): Promise<{ post: HydratedPost; replayed: boolean }> {
    const text = cleanText(input.text, '/text', { min: 1, max: POST_MAX, multiline: true });
    const created = await transaction(this.#db, (trx) =>
      createOnce(trx, authorId, 'posts.create', idem, async () => {
        const id = newId();
        const author = await new UsersRepository(trx).findById(authorId);
        await new PostsRepository(trx).insert({
          id,
          author_id: authorId,
          text,
          visibility: input.visibility ?? 'public',
          fan_out: (author?.follower_count ?? 0) <= this.#opts.fanoutMaxFollowers,
        });
        if (input.media_ids?.length) {
          await attachMedia(trx, authorId, id, input.media_ids, this.#opts.maxMediaPerPost);
        }
        const tags = hashtagsOf(text);
        await new TagsRepository(trx).setForPost(id, authorId, tags);
        await new UsersRepository(trx).adjustCounts([
          { userId: authorId, column: 'post_count', delta: 1 },
        ]);
        await recordEvent(trx, 'post.created', {
          post_id: id,
          author_id: authorId,
          mentions: mentionedUsernames(text).length > 0,
          tags: tags.length > 0,
        });
        return id;
      }),
    );
    const post = await this.get(authorId, created.id);
    if (!created.replayed) {
      // Listed as pending for feed readers, and cached: its followers are about to read it.
      await Promise.all([
        this.#opts.onCreated(created.id, authorId),
        this.#contents.prime(post),
        this.#opts.counters.prime(post),
      ]);
    }
    return { post, replayed: created.replayed };
  }

  async get(viewerId: string | null, id: string): Promise<HydratedPost> {
    const post = await this.#posts.findVisible(id, viewerId);
    if (!post) throw postNotFound();
    return post;
  }

  async update(viewerId: string, id: string, patch: Partial<PostInput>): Promise<HydratedPost> {
    const text =
      patch.text === undefined
        ? undefined
        : cleanText(patch.text, '/text', { min: 1, max: POST_MAX, multiline: true });
    await transaction(this.#db, async (trx) => {
      const post = await this.#ownPost(trx, viewerId, id);
      const next = { text: text ?? post.text, visibility: patch.visibility ?? post.visibility };
      const media = patch.media_ids;
      const mediaChanged =
        media !== undefined &&
        (await new PostsRepository(trx).mediaIds(id)).join() !== [...new Set(media)].join();
      if (next.text === post.text && next.visibility === post.visibility && !mediaChanged) return;
      if (mediaChanged) {
        await attachMedia(trx, viewerId, id, media, this.#opts.maxMediaPerPost);
      }
      await new PostsRepository(trx).edit(post, newId(), next);
      if (next.text !== post.text) {
        const tags = hashtagsOf(next.text);
        await new TagsRepository(trx).setForPost(post.id, post.author_id, tags, true);
      }
      await recordEvent(trx, 'post.edited', { post_id: post.id, author_id: post.author_id });
    });
    await Promise.all([this.#contents.invalidate(id), this.#opts.counters.invalidate(id)]);
    return this.get(viewerId, id);
  }

  async delete(viewerId: string, id: string): Promise<void> {
    await transaction(this.#db, async (trx) => {
      await this.#remove(trx, await this.#ownPost(trx, viewerId, id));
    });
    await Promise.all([this.#contents.gone(id), this.#opts.counters.invalidate(id)]);
  }

  /**
   * Deletes a post on a moderator's decision (the moderation service checked their rights):
   * the same counters and event as its author's deletion. False when it was already gone.
   */
  async removeByModerator(id: string): Promise<boolean> {
    const removed = await transaction(this.#db, async (trx) => {
      const post = await new PostsRepository(trx).findById(id, true);
      if (post) await this.#remove(trx, post);
      return post !== undefined;
    });
    await Promise.all([this.#contents.gone(id), this.#opts.counters.invalidate(id)]);
    return removed;
  }

  async #remove(trx: Kysely<DB>, post: PostRow): Promise<void> {
    await new PostsRepository(trx).delete(post.id);
    await new UsersRepository(trx).adjustCounts([
      { userId: post.author_id, column: 'post_count', delta: -1 },
    ]);
    await recordEvent(trx, 'post.deleted', {
      post_id: post.id,
      author_id: post.author_id,
      fan_out: post.fan_out,
      visibility: post.visibility,
    });
  }

  async history(viewerId: string | null, id: string, beforeId: string | undefined, limit: number) {
    await this.get(viewerId, id);
    return this.#posts.versions(id, viewerId, beforeId, limit);
  }

  async like(viewerId: string, id: string): Promise<LikeState> {
    return this.#setLike(viewerId, id, true);
  }

  async unlike(viewerId: string, id: string): Promise<LikeState> {
    return this.#setLike(viewerId, id, false);
  }

  async likers(
    viewerId: string | null,
    id: string,
    after: { t: string; id: string } | undefined,
    limit: number,
  ) {
    await this.get(viewerId, id);
    return this.#posts.likers(id, viewerId, after, limit);
  }

  /** The posts the viewer liked and may still see, newest like first. */
  liked(viewerId: string, after: { t: string; id: string } | undefined, limit: number) {
    return this.#posts.likedBy(viewerId, after, limit);
  }

  /**
   * The profile feed: the user's posts the viewer may see, newest first. A user in a block with
   * the viewer is not found.
   */
  async byAuthor(
    viewerId: string | null,
    username: string,
    beforeId: string | undefined,
    limit: number,
  ) {
    const author = await this.#users.resolveVisible(username, viewerId);
    return this.#posts.listByAuthor(author.id, viewerId, beforeId, limit);
  }

  async #setLike(viewerId: string, id: string, liked: boolean): Promise<LikeState> {
    const state = await transaction(this.#db, async (trx) => {
      const posts = new PostsRepository(trx);
      const post = await posts.findVisible(id, viewerId);
      if (!post) throw postNotFound();
      const changed = liked
        ? await posts.addLike(id, viewerId)
        : await posts.removeLike(id, viewerId);
      if (changed && liked) {
        await recordEvent(trx, 'post.liked', {
          post_id: id,
          author_id: post.author_id,
          user_id: viewerId,
        });
      }
      if (changed) await posts.adjustCount(id, 'like_count', liked ? 1 : -1);
      // Read back after the write (a concurrent like may have committed while this one waited),
      // as the viewer may list it: without the likes of users in a block with them.
      const like_count = await posts.seenLikeCount(id, viewerId);
      return { liked, like_count: like_count ?? 0, changed };
    });
    if (state.changed) {
      await Promise.all([
        this.#opts.counters.invalidate(id),
        this.#opts.liked.invalidate(viewerId),
      ]);
    }
    return state;
  }

  /** The post, locked for change, when the viewer wrote it; 403 if they only see it, else 404. */
  async #ownPost(trx: Kysely<DB>, viewerId: string, id: string): Promise<PostRow> {
    const posts = new PostsRepository(trx);
    const post = await posts.findById(id, true);
    if (post?.author_id === viewerId) return post;
    if (post && (await posts.findVisible(id, viewerId))) throw notAuthor();
    throw postNotFound();
  }
}
