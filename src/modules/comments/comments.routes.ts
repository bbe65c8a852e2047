import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { IdempotencyHeaders, idempotencyKeyOf, markReplay } from '../../http/idempotency.ts';
import { decodeCursor, IdCursor, Page, pageOf, PageQuery } from '../../http/pagination.ts';
import { PostParams } from '../posts/posts.schemas.ts';
import { Comment, CommentBody, CommentParams, presentComment } from './comments.schemas.ts';

const tags = ['comments'];

/** Comments on posts. */
export function commentsRoutes(ctx: Context) {
  const { comments } = ctx;
  return async (app: App) => {
    app.post(
      '/posts/:id/comments',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Comment on a post you can see',
          description:
            '404 `post_not_found` when you may not see the post. Honours `Idempotency-Key`.',
          params: PostParams,
          headers: IdempotencyHeaders,
          body: CommentBody,
          response: { 201: Comment },
        },
      },
      async (request, reply) => {
        const viewer = principalOf(request).userId;
        const { comment, replayed } = await comments.create(
          viewer,
          request.params.id,
          request.body.text,
          idempotencyKeyOf(request),
        );
        markReplay(reply, replayed);
        return reply.status(201).send(presentComment(comment));
      },
    );

    app.get(
      '/posts/:id/comments',
      {
        config: { auth: 'optional' },
        schema: {
          tags,
          summary: 'Comments on a post, oldest first',
          description:
            "Comments by users in a block with you are left out (and not counted in the post's `comment_count`). 404 `post_not_found` when you may not see the post.",
          params: PostParams,
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Comment) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const after = decodeCursor(IdCursor, cursor)?.id;
        const rows = await comments.list(
          request.principal?.userId ?? null,
          request.params.id,
          after,
          limit + 1,
        );
        return pageOf(request, reply, rows, limit, presentComment, (c) => ({ id: c.id }));
      },
    );

    app.patch(
      '/comments/:id',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Edit your comment',
          description:
            '403 `not_author` for others who can see it; 404 `comment_not_found` otherwise.',
          params: CommentParams,
          body: CommentBody,
          response: { 200: Comment },
        },
      },
      async (request) =>
        presentComment(
          await comments.update(principalOf(request).userId, request.params.id, request.body.text),
        ),
    );

    app.delete(
      '/comments/:id',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: "Delete a comment (its author or the post's author)",
          description:
            '403 `not_author` for others who can see it; 404 `comment_not_found` otherwise.',
          params: CommentParams,
          response: { 204: Type.Null({ description: 'Deleted' }) },
        },
      },
      async (request, reply) => {
        await comments.delete(principalOf(request).userId, request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
}
