import type { Context } from '../../app/context.ts';
import { AppError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { FriendRequestsRepository } from '../social/friend-requests.repository.ts';
import { presentAccount } from './accounts.presenter.ts';
import { recordNotFound, viewerOf, visibleAccount } from './lookup.ts';
import { edgeCursor, edgeLinks, originOf, pageParams, setLinks } from './paging.ts';
import { relationshipOf } from './relationships.ts';

type IdParams = { id: string };
type Query = Record<string, unknown>;
const write = (scope: string) => ({ auth: 'required' as const, scope: `write:${scope}` });

/** Follow, block and mute by account id; followers and following; follow requests. */
export function mastodonGraphRoutes(ctx: Context) {
  return async (app: App) => {
    const verbs = {
      follow: 'follows',
      unfollow: 'follows',
      block: 'blocks',
      unblock: 'blocks',
      mute: 'mutes',
      unmute: 'mutes',
    } as const;
    for (const [verb, scope] of Object.entries(verbs) as [keyof typeof verbs, string][]) {
      app.post<{ Params: IdParams }>(
        `/v1/accounts/:id/${verb}`,
        { config: write(scope) },
        async (request) => {
          const { userId } = principalOf(request);
          const body = (request.body ?? {}) as Record<string, unknown>;
          if (verb === 'mute' && Number(body.duration ?? 0) > 0)
            throw new AppError(
              422,
              'unsupported',
              'mutes with a duration are not supported: kith mutes are permanent',
            );
          // A block hides users from each other, so (un)block finds its target regardless.
          const blocks = verb === 'block' || verb === 'unblock';
          const target = await visibleAccount(ctx, request.params.id, blocks ? null : userId);
          await ctx.social[verb](userId, target.username);
          return relationshipOf(ctx, userId, target.id);
        },
      );
    }

    for (const kind of ['followers', 'following'] as const) {
      app.get<{ Params: IdParams }>(
        `/v1/accounts/:id/${kind}`,
        { config: { auth: 'optional' } },
        async (request, reply) => {
          const viewer = viewerOf(request);
          const query = request.query as Query;
          const account = await visibleAccount(ctx, request.params.id, viewer);
          const params = pageParams(query, 'accounts');
          const after = edgeCursor(query.max_id);
          // Only older pages (`max_id`) are served; `since_id`/`min_id` answer the first page.
          const rows =
            after === null
              ? []
              : await ctx.social.list(viewer, kind, account.username, after, params.limit);
          edgeLinks(request, reply, rows, params, (r) => r.edge_at);
          return rows.map((u) => presentAccount(originOf(request), u));
        },
      );
    }

    // kith's incoming friend requests are Mastodon's follow requests: accepting one makes both
    // users follow each other.
    app.get(
      '/v1/follow_requests',
      { config: { auth: 'required', scope: 'read:follows' } },
      async (request, reply) => {
        const { userId } = principalOf(request);
        const params = pageParams(request.query, 'accounts');
        const before = params.maxId === '' ? undefined : params.maxId;
        const requests =
          params.maxId === ''
            ? []
            : await ctx.friends.listPending(userId, 'incoming', before, params.limit);
        const views = await ctx.friends.views(requests);
        setLinks(request, reply, requests, params);
        return views.map((v) => presentAccount(originOf(request), v.sender));
      },
    );
    for (const [verb, answer] of [
      ['authorize', 'accept'],
      ['reject', 'decline'],
    ] as const) {
      app.post<{ Params: IdParams }>(
        `/v1/follow_requests/:id/${verb}`,
        { config: write('follows') },
        async (request) => {
          const { userId } = principalOf(request);
          const sender = await visibleAccount(ctx, request.params.id, userId);
          const pending = await new FriendRequestsRepository(ctx.database.db).findPendingRequest(
            sender.id,
            userId,
          );
          if (!pending) throw recordNotFound();
          await ctx.friends[answer](userId, pending.id);
          return relationshipOf(ctx, userId, sender.id);
        },
      );
    }
  };
}
