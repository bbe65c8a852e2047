import type { FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { tagName } from '../../text.ts';
import { MASTODON_FLAVOUR } from './flavour.ts';
import { listParam, recordNotFound, viewerOf } from './lookup.ts';
import { clamp, originOf } from './paging.ts';
import { presentTag, presentTags } from './tags.presenter.ts';

type NameParams = { name: string };

/** The tag named in the path, normalised; not a tag name at all: 404, as Mastodon answers. */
function tagOf(request: FastifyRequest<{ Params: NameParams }>): string {
  const name = tagName(request.params.name);
  if (name === undefined) throw recordNotFound();
  return name;
}

/**
 * Tags: one tag, following and unfollowing it (kith's followed tags: their public posts join the
 * home timeline), the tags followed. `POST /v1/tags/:name/follow` is also kith's own path:
 * Mastodon's answer (a Tag) goes to Mastodon tokens (flavour.ts).
 */
export function mastodonTagRoutes(ctx: Context) {
  const { tags } = ctx.search;
  const write = { auth: 'required' as const, scope: 'write:follows' };
  return async (app: App) => {
    app.get<{ Params: NameParams }>(
      '/v1/tags/:name',
      { config: { auth: 'optional', scope: 'read:statuses' } },
      async (request) => presentTag(ctx, viewerOf(request), originOf(request), tagOf(request)),
    );

    app.post<{ Params: NameParams }>(
      '/v1/tags/:name/follow',
      { config: write, constraints: MASTODON_FLAVOUR },
      async (request) => {
        const { userId } = principalOf(request);
        const { name } = await tags.follow(userId, tagOf(request));
        return presentTag(ctx, userId, originOf(request), name);
      },
    );
    app.post<{ Params: NameParams }>(
      '/v1/tags/:name/unfollow',
      { config: write },
      async (request) => {
        const { userId } = principalOf(request);
        const { name } = await tags.unfollow(userId, tagOf(request));
        return presentTag(ctx, userId, originOf(request), name);
      },
    );

    // By name (kith's order): `max_id` in the `next` link is the last name of the page.
    app.get(
      '/v1/followed_tags',
      { config: { auth: 'required', scope: 'read:follows' }, constraints: MASTODON_FLAVOUR },
      async (request, reply) => {
        const { userId } = principalOf(request);
        const query = request.query as Record<string, unknown>;
        const limit = clamp(query.limit, 100, 1, 200);
        const after = listParam(query.max_id)[0];
        const rows = await tags.followed(userId, after || undefined, limit);
        if (rows.length === limit) {
          const [path, search = ''] = request.url.split('?', 2) as [string, string?];
          const next = new URLSearchParams(search);
          next.delete('since_id');
          next.delete('min_id');
          next.set('max_id', rows.at(-1)!.tag);
          void reply.header('link', `<${originOf(request)}${path}?${next.toString()}>; rel="next"`);
        }
        const names = rows.map((r) => r.tag);
        return presentTags(ctx, userId, originOf(request), names);
      },
    );
  };
}
