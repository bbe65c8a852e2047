import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { originOf, pageParams, readPage, setLinks } from './paging.ts';
import { StatusPresenter } from './statuses.presenter.ts';

/** The home timeline: kith's home feed (fan-out plus merged posts), newest first. */
export function mastodonTimelineRoutes(ctx: Context) {
  return async (app: App) => {
    app.get(
      '/v1/timelines/home',
      { config: { auth: 'required', scope: 'read:statuses' } },
      async (request, reply) => {
        const { userId } = principalOf(request);
        const params = pageParams(request.query, 'statuses');
        const posts = await readPage(params, (before, limit) =>
          ctx.feed.page(userId, before, limit),
        );
        setLinks(request, reply, posts, params);
        return new StatusPresenter(ctx.users, originOf(request)).present(posts);
      },
    );
  };
}
