import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, IdCursor, Page, pageOf, PageQuery } from '../../http/pagination.ts';
import { Post, presentPost } from '../posts/posts.schemas.ts';

/** The home feed. */
export function feedRoutes(ctx: Context) {
  const { feed } = ctx;
  return async (app: App) => {
    app.get(
      '/feed',
      {
        config: { auth: 'required' },
        schema: {
          tags: ['feed'],
          summary: 'Your home feed',
          description:
            'Your own posts and those of the people you follow (friends included) that you may see, newest first, without blocked or muted users. New posts appear as soon as the fan-out has run (usually well under a second); your own at once.',
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Post) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const before = decodeCursor(IdCursor, cursor)?.id;
        const rows = await feed.page(principalOf(request).userId, before, limit + 1);
        return pageOf(request, reply, rows, limit, presentPost, (p) => ({ id: p.id }));
      },
    );
  };
}
