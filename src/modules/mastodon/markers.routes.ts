import type { Context } from '../../app/context.ts';
import { AppError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { isId, listParam } from './lookup.ts';
import { MastodonRepository } from './mastodon.repository.ts';

const TIMELINES = ['home', 'notifications'] as const;
/** How many notifications one marker write marks read (older ones were read long ago). */
const MARK_READ_MAX = 1_000;

type MarkerRow = { timeline: string; last_read_id: string; version: number; updated_at: Date };
const present = (row: MarkerRow) => ({
  last_read_id: row.last_read_id,
  version: row.version,
  updated_at: new Date(row.updated_at).toISOString(),
});

/** Reading positions (docs methods/markers.md); the notifications one also marks kith's read. */
export function mastodonMarkerRoutes(ctx: Context) {
  const repo = () => new MastodonRepository(ctx.database.db);
  return async (app: App) => {
    app.get(
      '/v1/markers',
      { config: { auth: 'required', scope: 'read:statuses' } },
      async (request) => {
        const asked = listParam((request.query as Record<string, unknown>).timeline);
        const wanted = TIMELINES.filter((t) => asked.includes(t));
        const rows = await repo().markers(principalOf(request).userId, wanted);
        // Every timeline asked for is answered (Elk reads the notifications marker unguarded):
        // one never set reads as "nothing read yet".
        const unset = { last_read_id: '0', version: 0, updated_at: new Date(0).toISOString() };
        const set = new Map(rows.map((row) => [row.timeline, present(row)]));
        return Object.fromEntries(wanted.map((t) => [t, set.get(t) ?? unset]));
      },
    );

    app.post(
      '/v1/markers',
      { config: { auth: 'required', scope: 'write:statuses' } },
      async (request) => {
        const { userId } = principalOf(request);
        const body = (request.body ?? {}) as Record<string, { last_read_id?: unknown } | undefined>;
        const given = TIMELINES.flatMap((timeline) => {
          const id = body[timeline]?.last_read_id;
          if (id === undefined) return [];
          if (!isId(id))
            throw new AppError(422, 'invalid_marker', `${timeline}[last_read_id] must be an id`);
          return [[timeline, id.toLowerCase()] as const];
        });
        const out: Record<string, ReturnType<typeof present>> = {};
        for (const [timeline, id] of given) {
          out[timeline] = present(await repo().setMarker(userId, timeline, id));
          if (timeline === 'notifications') {
            const ids = await repo().unreadNotificationIds(userId, id, MARK_READ_MAX);
            if (ids.length > 0) await ctx.notifications.markRead(userId, { ids });
          }
        }
        return out;
      },
    );
  };
}
