import type { Context } from '../../app/context.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { NotificationsRepository } from '../notifications/notifications.repository.ts';
import type { NotificationView } from '../notifications/notifications.repository.ts';
import { presentAccount } from './accounts.presenter.ts';
import { StatusPresenter } from './statuses.presenter.ts';

/**
 * kith's notification types as Mastodon's. `comment` has no Mastodon form until comments are
 * served as replies: such notifications are not listed here (kith's own API lists them).
 */
export const TYPES: Record<string, string> = {
  follow: 'follow',
  friend_accepted: 'follow',
  friend_request: 'follow_request',
  like: 'favourite',
  mention: 'mention',
};
export const kithTypes = (mastodon: readonly string[]) =>
  Object.keys(TYPES).filter((kith) => mastodon.includes(TYPES[kith]!));

/** Mastodon Notifications of these kith rows, as the viewer may see them, in row order. */
export async function presentNotifications(
  ctx: Pick<Context, 'database' | 'posts'>,
  viewerId: string,
  origin: string,
  ids: readonly string[],
) {
  const { db } = ctx.database;
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
