import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { tagName } from '../../text.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import { MASTODON_FLAVOUR } from './flavour.ts';
import { truthy, viewerOf } from './lookup.ts';
import { clamp, originOf, pageParams, readPage, setLinks, type ReadBefore } from './paging.ts';
import { StatusPresenter } from './statuses.presenter.ts';
import { presentTags } from './tags.presenter.ts';

type Query = Record<string, unknown>;

/**
 * The public and tag timelines (kith's, with its visibility, block, mute and limit rules) and
 * trending tags, as Mastodon presents them. `/v1/timelines/public` and `/v1/trends/tags` are
 * also kith's own paths: Mastodon's answer goes to Mastodon tokens (flavour.ts).
 */
export function mastodonDiscoveryRoutes(ctx: Context) {
  const { timelines, trends } = ctx.search;
  const optional = { auth: 'optional' as const, scope: 'read:statuses' };
  return async (app: App) => {
    /** One page of a timeline read with `read`, presented as the home timeline is. */
    async function timeline(
      request: FastifyRequest,
      reply: FastifyReply,
      read: ReadBefore<HydratedPost>,
    ) {
      const query = request.query as Query;
      const params = pageParams(query, 'statuses');
      // kith has no federation: every post is local, nothing is remote.
      if (truthy(query.remote)) return [];
      const page = await readPage(params, read);
      // only_media filters the page, as for an account's statuses (its links still go on).
      const posts = truthy(query.only_media) ? page.filter((p) => p.media.length > 0) : page;
      setLinks(request, reply, page, params);
      return new StatusPresenter(ctx.users, originOf(request)).present(posts);
    }

    app.get(
      '/v1/timelines/public',
      { config: optional, constraints: MASTODON_FLAVOUR },
      async (request, reply) =>
        timeline(request, reply, (before, limit) =>
          timelines.publicPosts(viewerOf(request), before, limit),
        ),
    );

    app.get<{ Params: { hashtag: string } }>(
      '/v1/timelines/tag/:hashtag',
      { config: optional },
      async (request, reply) => {
        // No such tag (not a tag name at all): an empty timeline, as Mastodon answers.
        const tag = tagName(request.params.hashtag);
        if (tag === undefined) return [];
        return timeline(request, reply, (before, limit) =>
          timelines.tagPosts(viewerOf(request), tag, before, limit),
        );
      },
    );

    app.get(
      '/v1/trends/tags',
      { config: optional, constraints: MASTODON_FLAVOUR },
      async (request) => {
        const query = request.query as Query;
        const limit = clamp(query.limit, 10, 1, 20);
        const offset = clamp(query.offset, 0, 0, 50);
        const viewer = viewerOf(request);
        const names = (await trends.tags(viewer, offset + limit)).slice(offset).map((t) => t.name);
        return presentTags(ctx, viewer, originOf(request), names);
      },
    );
  };
}
