import type { Context } from '../../app/context.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { NotificationsRepository } from '../notifications/notifications.repository.ts';
import type { NotificationView } from '../notifications/notifications.repository.ts';
import { presentAccount } from './accounts.presenter.ts';
import { StatusPresenter, type Statusable } from './statuses.presenter.ts';

/**
 * kith's notification types as Mastodon's. A `comment` on your post is a reply to it: Mastodon
 * tells of replies as `mention`, with the reply as the status.
 */
export const TYPES: Record<string, string> = {
  follow: 'follow',
  friend_accepted: 'follow',
  friend_request: 'follow_request',
  like: 'favourite',
  comment: 'mention',
  mention: 'mention',
};
export const kithTypes = (mastodon: readonly string[]) =>
  Object.keys(TYPES).filter((kith) => mastodon.includes(TYPES[kith]!));

/** Mastodon Notifications of these kith rows, as the viewer may see them, in row order. */
export async function presentNotifications(
  ctx: Pick<Context, 'database' | 'posts' | 'comments' | 'users'>,
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
  // A notification about a comment (on your post, or mentioning you) shows the comment.
  const subjectOf = (n: NotificationView) => n.comment_id ?? n.post_id;
  const subjects = new Map<string, Statusable>();
  for (const n of rows) {
    const id = subjectOf(n);
    if (id === null || subjects.has(id)) continue;
    const found = await (
      n.comment_id ? ctx.comments.get(viewerId, n.comment_id) : ctx.posts.get(viewerId, id)
    ).catch(() => undefined);
    if (found) subjects.set(id, found);
  }
  const statuses = new Map(
    (await new StatusPresenter(ctx.users, origin).present([...subjects.values()])).map((s) => [
      s.id,
      s,
    ]),
  );
  return rows.flatMap((n: NotificationView) => {
    const type = TYPES[n.type];
    const actor = actors.get(n.actors[0]!.id);
    const subject = subjectOf(n);
    const status = subject ? statuses.get(subject) : undefined;
    // A notification about a post or comment the viewer can no longer see is left out.
    if (!type || !actor || (subject && !status)) return [];
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
