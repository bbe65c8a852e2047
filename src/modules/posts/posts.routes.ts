import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { IdempotencyHeaders, idempotencyKeyOf, markReplay } from '../../http/idempotency.ts';
import {
  decodeCursor,
  IdCursor,
  Page,
  pageOf,
  PageQuery,
  TimeCursor,
} from '../../http/pagination.ts';
import { presentSummary, UsernameParams } from '../accounts/accounts.schemas.ts';
import {
  CreatePostBody,
  LikeState,
  Liker,
  Post,
  PostParams,
  PostVersion,
  presentPost,
  presentVersion,
  UpdatePostBody,
} from './posts.schemas.ts';

const tags = ['posts'];
const hidden = '404 `post_not_found` when the post does not exist or you may not see it.';

/** Posts, their history and likes, and the profile feed. */
export function postsRoutes(ctx: Context) {
  const { posts } = ctx;
  return async (app: App) => {
    app.post(
      '/posts',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Write a post',
          description:
            'Text 1-5,000 characters after trimming. Honours `Idempotency-Key` (a retry returns the first post).',
          headers: IdempotencyHeaders,
          body: CreatePostBody,
          response: { 201: Post },
        },
      },
      async (request, reply) => {
        const { post, replayed } = await posts.create(
          principalOf(request).userId,
          request.body,
          idempotencyKeyOf(request),
        );
        markReplay(reply, replayed);
        return reply
          .status(201)
          .header('location', `/api/v1/posts/${post.id}`)
          .send(presentPost(post));
      },
    );

    app.get(
      '/posts/:id',
      {
        config: { auth: 'optional' },
        schema: {
          tags,
          summary: 'A post',
          description: hidden,
          params: PostParams,
          response: { 200: Post },
        },
      },
      async (request) =>
        presentPost(await posts.get(request.principal?.userId ?? null, request.params.id)),
    );

    app.patch(
      '/posts/:id',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Edit your post',
          description: `Keeps the previous version (see /history) and sets \`edited_at\`. 403 \`not_author\` for others who can see it; ${hidden}`,
          params: PostParams,
          body: UpdatePostBody,
          response: { 200: Post },
        },
      },
      async (request) =>
        presentPost(
          await posts.update(principalOf(request).userId, request.params.id, request.body),
        ),
    );

    app.delete(
      '/posts/:id',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Delete your post',
          description: `Removes it with its likes, comments and history. 403 \`not_author\` for others; ${hidden}`,
          params: PostParams,
          response: { 204: Type.Null({ description: 'Deleted' }) },
        },
      },
      async (request, reply) => {
        await posts.delete(principalOf(request).userId, request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/posts/:id/history',
      {
        config: { auth: 'optional' },
        schema: {
          tags,
          summary: 'Previous versions of a post',
          description: `Newest first. ${hidden}`,
          params: PostParams,
          querystring: Type.Object(PageQuery),
          response: { 200: Page(PostVersion) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const before = decodeCursor(IdCursor, cursor)?.id;
        const rows = await posts.history(
          request.principal?.userId ?? null,
          request.params.id,
          before,
          limit + 1,
        );
        return pageOf(request, reply, rows, limit, presentVersion, (v) => ({ id: v.id }));
      },
    );

    const likeRoute = (summary: string) => ({
      config: { auth: 'required' as const },
      schema: {
        tags,
        summary,
        description: `Idempotent: \`changed\` is false when nothing changed. ${hidden}`,
        params: PostParams,
        response: { 200: LikeState },
      },
    });
    app.post('/posts/:id/like', likeRoute('Like a post'), async (request) =>
      posts.like(principalOf(request).userId, request.params.id),
    );
    app.delete('/posts/:id/like', likeRoute('Remove your like'), async (request) =>
      posts.unlike(principalOf(request).userId, request.params.id),
    );

    app.get(
      '/posts/:id/likes',
      {
        config: { auth: 'optional' },
        schema: {
          tags,
          summary: 'Who liked a post',
          description: `Newest first; users in a block with you are left out (and not counted in \`like_count\`). ${hidden}`,
          params: PostParams,
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Liker) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const viewer = request.principal?.userId ?? null;
        const rows = await posts.likers(
          viewer,
          request.params.id,
          decodeCursor(TimeCursor, cursor),
          limit + 1,
        );
        return pageOf(
          request,
          reply,
          rows,
          limit,
          (u) => ({ ...presentSummary(u), liked_at: u.liked_at.toISOString() }),
          (u) => ({ t: u.liked_at.toISOString(), id: u.id }),
        );
      },
    );

    app.get(
      '/users/:username/posts',
      {
        config: { auth: 'optional' },
        schema: {
          tags,
          summary: "A user's posts (profile feed)",
          description:
            "The posts you may see, newest first (the profile's `post_count` counts the same posts). " +
            '404 `user_not_found` when one of you blocks the other, as for a user who does not exist.',
          params: UsernameParams,
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Post) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const before = decodeCursor(IdCursor, cursor)?.id;
        const rows = await posts.byAuthor(
          request.principal?.userId ?? null,
          request.params.username,
          before,
          limit + 1,
        );
        return pageOf(request, reply, rows, limit, presentPost, (p) => ({ id: p.id }));
      },
    );
  };
}
