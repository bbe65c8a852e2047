import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, IdCursor, Page, pageOf, PageQuery } from '../../http/pagination.ts';
import { Post, presentPost } from '../posts/posts.schemas.ts';
import { NameCursor } from './search.schemas.ts';
import { FollowedTag, presentTagRef, TagFollowState, TagParams } from './tags.schemas.ts';

const tags = ['tags'];
const hidden = 'Without posts by users in a block with you or muted by you.';
const badTag = '400 `invalid_tag` when the name is no tag.';

/** Tag and public timelines, and following tags. */
export function tagsRoutes(ctx: Context) {
  const { timelines, tags: tagService } = ctx.search;
  return async (app: App) => {
    app.get(
      '/timelines/public',
      {
        config: { auth: 'optional', scope: 'read:statuses' },
        schema: {
          tags,
          summary: 'Public timeline',
          description: `Every public post, newest first. ${hidden}`,
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Post) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const before = decodeCursor(IdCursor, cursor)?.id;
        const rows = await timelines.publicPosts(
          request.principal?.userId ?? null,
          before,
          limit + 1,
        );
        return pageOf(request, reply, rows, limit, presentPost, (p) => ({ id: p.id }));
      },
    );

    app.get(
      '/tags/:tag/posts',
      {
        config: { auth: 'optional', scope: 'read:statuses' },
        schema: {
          tags,
          summary: 'Tag timeline',
          description: `Public posts carrying the tag, newest first. ${hidden} ${badTag}`,
          params: TagParams,
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Post) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const before = decodeCursor(IdCursor, cursor)?.id;
        const viewer = request.principal?.userId ?? null;
        const rows = await timelines.tagPosts(viewer, request.params.tag, before, limit + 1);
        return pageOf(request, reply, rows, limit, presentPost, (p) => ({ id: p.id }));
      },
    );

    const followRoute = (summary: string) => ({
      config: { auth: 'required' as const, scope: 'write:follows' },
      schema: {
        tags,
        summary,
        description: `Idempotent: \`changed\` is false when nothing changed. Public posts with a tag you follow join your home feed. ${badTag}`,
        params: TagParams,
        response: { 200: TagFollowState },
      },
    });
    app.post('/tags/:tag/follow', followRoute('Follow a tag'), async (request) => {
      const state = await tagService.follow(principalOf(request).userId, request.params.tag);
      return { ...presentTagRef(state.name), ...state };
    });
    app.delete('/tags/:tag/follow', followRoute('Stop following a tag'), async (request) => {
      const state = await tagService.unfollow(principalOf(request).userId, request.params.tag);
      return { ...presentTagRef(state.name), ...state };
    });

    app.get(
      '/followed_tags',
      {
        config: { auth: 'required', scope: 'read:follows' },
        schema: {
          tags,
          summary: 'Tags you follow',
          description: 'By name.',
          querystring: Type.Object(PageQuery),
          response: { 200: Page(FollowedTag) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const after = decodeCursor(NameCursor, cursor)?.name;
        const rows = await tagService.followed(principalOf(request).userId, after, limit + 1);
        return pageOf(
          request,
          reply,
          rows,
          limit,
          (r) => ({ ...presentTagRef(r.tag), followed_at: r.created_at.toISOString() }),
          (r) => ({ name: r.tag }),
        );
      },
    );
  };
}
