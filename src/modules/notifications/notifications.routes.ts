import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, Page, pageOf, PageQuery, TimeCursor } from '../../http/pagination.ts';
import { type NotificationView } from './notifications.repository.ts';
import { Notification, NotificationType } from './notifications.schemas.ts';

const tags = ['notifications'];

/** Your notifications: list, unread count, mark read. */
export function notificationsRoutes(ctx: Context) {
  const { notifications } = ctx;
  return async (app: App) => {
    app.get(
      '/notifications',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Your notifications',
          description:
            'Newest activity first. Filter with `?type=`. Actors in a block with you (either way) are left out of `actors` and `actor_count`, and a notification with no other actor is not listed, while the block lasts (an unblock brings them back).',
          querystring: Type.Object({ ...PageQuery, type: Type.Optional(NotificationType) }),
          response: { 200: Page(Notification) },
        },
      },
      async (request, reply) => {
        const { limit, cursor, type } = request.query;
        const rows = await notifications.list(
          principalOf(request).userId,
          type,
          decodeCursor(TimeCursor, cursor),
          limit + 1,
        );
        return pageOf(
          request,
          reply,
          rows,
          limit,
          (n) => n,
          (n: NotificationView) => ({
            t: n.updated_at,
            id: n.id,
          }),
        );
      },
    );

    app.get(
      '/notifications/unread-count',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'How many notifications you have not read',
          description: 'Only those `GET /notifications` lists: none hidden by a block.',
          response: { 200: Type.Object({ count: Type.Integer() }) },
        },
      },
      async (request) => ({ count: await notifications.unreadCount(principalOf(request).userId) }),
    );

    app.post(
      '/notifications/read',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Mark notifications read',
          description:
            'Send `ids` (some of yours) or `"all": true`. Notifications hidden by a block are left unread (and uncounted) until it is lifted.',
          body: Type.Object(
            {
              ids: Type.Optional(
                Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 100 }),
              ),
              all: Type.Optional(Type.Boolean()),
            },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Object({
              marked: Type.Integer({ description: 'Notifications that changed to read.' }),
              unread: Type.Integer(),
            }),
          },
        },
      },
      async (request) => notifications.markRead(principalOf(request).userId, request.body),
    );
  };
}
