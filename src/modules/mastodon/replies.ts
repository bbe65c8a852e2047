import type { Context } from '../../app/context.ts';
import { AppError, NotFoundError } from '../../errors.ts';
import type { IdempotencyKey } from '../../infra/db/idempotency.ts';
import type { CommentInThread } from '../comments/comments.repository.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import { isId, recordNotFound } from './lookup.ts';
import { MastodonRepository } from './mastodon.repository.ts';
import { isComment, type Statusable } from './statuses.presenter.ts';

type Body = Record<string, unknown>;
type Services = Pick<Context, 'posts' | 'comments'>;

/** Mastodon's descendants limit: a thread shows at most this many comments. */
export const DESCENDANTS_MAX = 4_096;
const CHUNK = 1_000;

/** Anything kith would answer 404 for is Mastodon's `Record not found`. */
export const toRecordNotFound = (err: unknown): never => {
  throw err instanceof NotFoundError ? recordNotFound() : err;
};
const orUndefined = (err: unknown) => {
  if (err instanceof NotFoundError) return undefined;
  throw err;
};

/**
 * A status id as the viewer may see it: a post, else a comment (two primary-key probes at most:
 * ids are UUIDv7 in both tables). Missing, invisible or malformed: 404.
 */
export async function findStatus(
  ctx: Services,
  viewerId: string | null,
  id: unknown,
): Promise<Statusable> {
  if (!isId(id)) throw recordNotFound();
  const key = id.toLowerCase();
  const post = await ctx.posts.get(viewerId, key).catch(orUndefined);
  return post ?? ctx.comments.get(viewerId, key).catch(toRecordNotFound);
}

/** A post id as the viewer may see it (a comment's id is not one): 404 otherwise. */
export async function findPost(
  ctx: Services,
  viewerId: string | null,
  id: unknown,
): Promise<HydratedPost> {
  if (!isId(id)) throw recordNotFound();
  return ctx.posts.get(viewerId, id.toLowerCase()).catch(toRecordNotFound);
}

const given = (value: unknown) => value !== undefined && value !== null && value !== '';

/** Whether a new status is a reply (`in_reply_to_id` set). */
export const isReply = (body: Body) => given(body.in_reply_to_id);

/** Comments carry no pictures: `media_ids[]` with anything in it is refused, never dropped. */
export function refuseCommentMedia(body: Body): void {
  if ([body.media_ids].flat().some(given))
    throw new AppError(422, 'unsupported', 'a reply cannot carry media: kith comments have none');
}

/**
 * A reply is a kith comment, under kith's comment rules (who may comment, limits, idempotency).
 * Replying to a comment comments on the same post (kith threads are flat); `visibility` is
 * ignored (a comment has its post's).
 */
export async function createReply(
  ctx: Services,
  viewerId: string,
  body: Body,
  idem: IdempotencyKey | undefined,
): Promise<{ reply: CommentInThread; replayed: boolean }> {
  refuseCommentMedia(body);
  const target = await findStatus(ctx, viewerId, [body.in_reply_to_id].flat()[0]);
  const postId = isComment(target) ? target.post_id : target.id;
  const text = typeof body.status === 'string' ? body.status : '';
  const { comment, replayed } = await ctx.comments
    .create(viewerId, postId, text, idem)
    .catch(toRecordNotFound);
  return { reply: await ctx.comments.get(viewerId, comment.id), replayed };
}

/**
 * A status's thread. A post: no ancestors; its comments the viewer may see, oldest first. A
 * comment: its post, then the comments after it (kith threads are flat: a later comment may
 * answer it). At most DESCENDANTS_MAX descendants.
 */
export async function threadOf(ctx: Services, viewerId: string | null, status: Statusable) {
  const post = isComment(status) ? await findPost(ctx, viewerId, status.post_id) : status;
  const descendants: CommentInThread[] = [];
  let after = isComment(status) ? status.id : undefined;
  while (descendants.length < DESCENDANTS_MAX) {
    const limit = Math.min(CHUNK, DESCENDANTS_MAX - descendants.length);
    const page = await ctx.comments.list(viewerId, post.id, after, limit).catch(toRecordNotFound);
    descendants.push(
      ...page.map((c) => ({
        ...c,
        post_author_id: post.author_id,
        post_visibility: post.visibility,
      })),
    );
    if (page.length < limit) break;
    after = page.at(-1)!.id;
  }
  return { ancestors: isComment(status) ? [post] : [], descendants };
}

/**
 * One page of an account's statuses, newest first: its posts and, unless `withReplies` is
 * false, its comments (both keyed by UUIDv7, so one merge of two keyset reads).
 */
export async function accountStatuses(
  ctx: Services,
  viewerId: string | null,
  account: { id: string; username: string },
  withReplies: boolean,
  beforeId: string | undefined,
  limit: number,
): Promise<Statusable[]> {
  const [posts, comments] = await Promise.all([
    ctx.posts.byAuthor(viewerId, account.username, beforeId, limit),
    withReplies ? ctx.comments.byAuthor(viewerId, account.id, beforeId, limit) : [],
  ]);
  return [...posts, ...comments].sort((a, b) => (a.id < b.id ? 1 : -1)).slice(0, limit);
}

/** Status ids as kith's: posts' and comments' (a report names either). */
export async function splitStatusIds(ctx: Pick<Context, 'database'>, ids: readonly string[]) {
  const wanted = [...new Set(ids.map((id) => id.toLowerCase()))];
  const comments = await new MastodonRepository(ctx.database.db).commentIds(wanted.filter(isId));
  return {
    post_ids: wanted.filter((id) => !comments.has(id)),
    comment_ids: wanted.filter((id) => comments.has(id)),
  };
}
