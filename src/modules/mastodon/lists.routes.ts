import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { presentAccount } from './accounts.presenter.ts';
import { edgeCursor, edgeLinks, originOf, pageParams } from './paging.ts';
import { StatusPresenter } from './statuses.presenter.ts';

type Query = Record<string, unknown>;
const read = (scope: string) => ({ auth: 'required' as const, scope: `read:${scope}` });

/**
 * The viewer's own lists: favourites (posts they liked and may still see), blocks and mutes.
 * Ordered by when the like, block or mute was made, newest first: `max_id` is an opaque cursor.
 */
export function mastodonListRoutes(ctx: Context) {
  return async (app: App) => {
    app.get('/v1/favourites', { config: read('favourites') }, async (request, reply) => {
      const { userId } = principalOf(request);
      const query = request.query as Query;
      const params = pageParams(query, 'statuses');
      const after = edgeCursor(query.max_id);
      const posts = after === null ? [] : await ctx.posts.liked(userId, after, params.limit);
      edgeLinks(request, reply, posts, params, (p) => p.liked_at);
      return new StatusPresenter(ctx.users, originOf(request)).present(posts);
    });

    for (const kind of ['blocks', 'mutes'] as const) {
      app.get(`/v1/${kind}`, { config: read(kind) }, async (request, reply) => {
        const { userId } = principalOf(request);
        const query = request.query as Query;
        const params = pageParams(query, 'accounts');
        const after = edgeCursor(query.max_id);
        const users =
          after === null ? [] : await ctx.social.listOwn(kind, userId, after, params.limit);
        edgeLinks(request, reply, users, params, (u) => u.edge_at);
        return users.map((u) => presentAccount(originOf(request), u));
      });
    }
  };
}
