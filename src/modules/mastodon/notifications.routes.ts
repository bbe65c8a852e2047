import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { isId, listParam, recordNotFound } from './lookup.ts';
import { MastodonRepository } from './mastodon.repository.ts';
import { originOf, pageParams, readPage, setLinks } from './paging.ts';
import { kithTypes, presentNotifications, TYPES } from './notifications.presenter.ts';
import { MASTODON_FLAVOUR } from './flavour.ts';

type IdParams = { id: string };
type Query = Record<string, unknown>;

const read = { auth: 'required' as const, scope: 'read:notifications' };
const write = { auth: 'required' as const, scope: 'write:notifications' };

/** Notifications: list (by type), one, dismiss, clear, unread count. */
export function mastodonNotificationRoutes(ctx: Context) {
  const { db } = ctx.database;
  return async (app: App) => {
    const present = (viewerId: string, origin: string, ids: readonly string[]) =>
      presentNotifications(ctx, viewerId, origin, ids);

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
