import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { NotificationsRepository } from '../notifications/notifications.repository.ts';
import type { NotificationView } from '../notifications/notifications.repository.ts';
import { presentAccount } from './accounts.presenter.ts';
import { isId, listParam, recordNotFound } from './lookup.ts';
import { MastodonRepository } from './mastodon.repository.ts';
import { originOf, pageParams, readPage, setLinks } from './paging.ts';
import { StatusPresenter } from './statuses.presenter.ts';
import { MASTODON_FLAVOUR } from './flavour.ts';
import { UsersRepository } from '../accounts/users.repository.ts';

type IdParams = { id: string };
type Query = Record<string, unknown>;

/**
 * kith's notification types as Mastodon's. `comment` has no Mastodon form until comments are
 * served as replies: such notifications are not listed here (kith's own API lists them).
 */
const TYPES: Record<string, string> = {
  follow: 'follow',
  friend_accepted: 'follow',
  friend_request: 'follow_request',
  like: 'favourite',
  mention: 'mention',
};
const kithTypes = (mastodon: readonly string[]) =>
  Object.keys(TYPES).filter((kith) => mastodon.includes(TYPES[kith]!));

const read = { auth: 'required' as const, scope: 'read:notifications' };
const write = { auth: 'required' as const, scope: 'write:notifications' };

/** Notifications: list (by type), one, dismiss, clear, unread count. */
export function mastodonNotificationRoutes(ctx: Context) {
  const { db } = ctx.database;
  return async (app: App) => {
    /** Mastodon Notifications of these kith rows, as the viewer may see them, in row order. */
    async function present(viewerId: string, origin: string, ids: readonly string[]) {
      if (ids.length === 0) return [];
      const views = await new NotificationsRepository(db).list(viewerId, {
        ids,
        limit: ids.length,
      });
      const byId = new Map(views.map((v) => [v.id, v]));
      const rows = ids.flatMap((id) => byId.get(id) ?? []);
      const actorIds = rows.map((n) => n.actors[0]!.id);
      const actors = new Map(
        (await new UsersRepository(db).findManyByIds(actorIds)).map((u) => [u.id, u]),
      );
      const posts = new Map<string, Awaited<ReturnType<typeof ctx.posts.get>>>();
      for (const postId of new Set(rows.flatMap((n) => (n.post_id ? [n.post_id] : [])))) {
        const post = await ctx.posts.get(viewerId, postId).catch(() => undefined);
        if (post) posts.set(postId, post);
      }
      const statuses = new Map(
        (await new StatusPresenter(db, origin).present([...posts.values()])).map((s) => [s.id, s]),
      );
      return rows.flatMap((n: NotificationView) => {
        const type = TYPES[n.type];
        const actor = actors.get(n.actors[0]!.id);
        const status = n.post_id ? statuses.get(n.post_id) : undefined;
        // A notification about a post the viewer can no longer see is left out.
        if (!type || !actor || (n.post_id && !status)) return [];
        return [
          {
            id: n.id,
            type,
            created_at: n.created_at,
            group_key: `ungrouped-${n.id}`,
            account: presentAccount(origin, actor),
            status: status ?? null,
            kith: { type: n.type, actor_count: n.actor_count },
          },
        ];
      });
    }

    app.get(
      '/v1/notifications',
      { config: read, constraints: MASTODON_FLAVOUR },
      async (request, reply) => {
        const { userId } = principalOf(request);
        const query = request.query as Query;
        const params = pageParams(query, 'notifications');
        const asked = listParam(query.types);
        const excluded = new Set(listParam(query.exclude_types));
        const wanted = (asked.length > 0 ? asked : Object.values(TYPES)).filter(
          (t) => !excluded.has(t),
        );
        const repo = new MastodonRepository(db);
        const rows = await readPage(params, (before, limit) =>
          repo.notificationIds(userId, kithTypes(wanted), before, limit),
        );
        setLinks(request, reply, rows, params);
        return present(
          userId,
          originOf(request),
          rows.map((r) => r.id),
        );
      },
    );

    app.get('/v1/notifications/unread_count', { config: read }, async (request) => ({
      count: await ctx.notifications.unreadCount(principalOf(request).userId),
    }));

    app.post('/v1/notifications/clear', { config: write }, async (request) => {
      await new MastodonRepository(db).dismissNotifications(principalOf(request).userId);
      return {};
    });

    app.get<{ Params: IdParams }>('/v1/notifications/:id', { config: read }, async (request) => {
      const { userId } = principalOf(request);
      if (!isId(request.params.id)) throw recordNotFound();
      const [found] = await present(userId, originOf(request), [request.params.id.toLowerCase()]);
      if (!found) throw recordNotFound();
      return found;
    });

    app.post<{ Params: IdParams }>(
      '/v1/notifications/:id/dismiss',
      { config: write },
      async (request) => {
        const { userId } = principalOf(request);
        if (!isId(request.params.id)) throw recordNotFound();
        const gone = await new MastodonRepository(db).dismissNotifications(userId, [
          request.params.id.toLowerCase(),
        ]);
        if (gone === 0) throw recordNotFound();
        return {};
      },
    );
  };
}
