import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { IdempotencyHeaders, idempotencyKeyOf, markReplay } from '../../http/idempotency.ts';
import { decodeCursor, IdCursor, Page, pageOf, PageQuery } from '../../http/pagination.ts';
import { UserSummary } from '../accounts/accounts.schemas.ts';
import { PostParams } from '../posts/posts.schemas.ts';
import type { HydratedComment } from './comments.repository.ts';
import { COMMENT_MAX } from './comments.service.ts';

const tags = ['comments'];

const CommentText = Type.String({
  maxLength: COMMENT_MAX * 2,
  description: `1-${COMMENT_MAX} characters after trimming.`,
});
const CommentBody = Type.Object({ text: CommentText }, { additionalProperties: false });
const CommentParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

const Comment = Type.Object({
  id: Type.String({ format: 'uuid' }),
  post_id: Type.String({ format: 'uuid' }),
  author: UserSummary,
  text: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  edited_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

function presentComment(c: HydratedComment) {
  return {
    id: c.id,
    post_id: c.post_id,
    author: { id: c.author_id, username: c.author_username, display_name: c.author_display_name },
    text: c.text,
    created_at: c.created_at.toISOString(),
    edited_at: c.edited_at?.toISOString() ?? null,
  };
}

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
