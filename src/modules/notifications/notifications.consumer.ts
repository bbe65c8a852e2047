import type { Kysely } from 'kysely';
import type { EventMap } from '../../events/event-map.ts';
import type { DomainEvent } from '../../infra/bus/bus.ts';
import type { DB } from '../../infra/db/schema.ts';
import { applyOnce } from '../../events/apply-once.ts';
import type { Consumer } from '../../events/consumer.ts';
import { visibleTo } from '../posts/visibility.repository.ts';
import type { StreamPublisher } from '../realtime/publisher.service.ts';
import { StreamLog, type Delivery } from '../realtime/stream-log.repository.ts';
import { mentionedUsernames } from '../../text.ts';
import { NotificationsRepository, type NotificationType } from './notifications.repository.ts';

interface Planned {
  user_id: string;
  type: NotificationType;
  actor_id: string;
  post_id?: string;
  comment_id?: string;
  request_id?: string;
  group_key?: string;
}

/** Users mentioned in `text` who may see the post (the author never notifies themselves). */
async function mentions(db: Kysely<DB>, text: string, postId: string, actorId: string) {
  const names = mentionedUsernames(text);
  if (names.length === 0) return [];
  const users = await db
    .selectFrom('users')
    .select('id')
    .where('username', 'in', names)
    .where('id', '!=', actorId)
    .execute();
  const seeing: string[] = [];
  for (const { id } of users) {
    const visible = await db
      .selectFrom('posts as p')
      .select('p.id')
      .where('p.id', '=', postId)
      .where(visibleTo(id))
      .executeTakeFirst();
    if (visible) seeing.push(id);
  }
  return seeing;
}

/** What an event notifies, read from the current state (a deleted post notifies nobody). */
async function plan(db: Kysely<DB>, event: DomainEvent): Promise<Planned[]> {
  switch (event.type) {
    case 'friend_request.sent': {
      const d = event.data as EventMap['friend_request.sent'];
      return [
        {
          user_id: d.recipient_id,
          type: 'friend_request',
          actor_id: d.sender_id,
          request_id: d.request_id,
        },
      ];
    }
    case 'friend_request.accepted': {
      const d = event.data as EventMap['friend_request.accepted'];
      return [
        {
          user_id: d.sender_id,
          type: 'friend_accepted',
          actor_id: d.recipient_id,
          request_id: d.request_id,
        },
      ];
    }
    case 'follow.created': {
      const d = event.data as EventMap['follow.created'];
      // Friends follow each other by accepting; `friend_accepted` already says so.
      const friends = await db
        .selectFrom('friendships')
        .select('user_id')
        .where('user_id', '=', d.follower_id)
        .where('friend_id', '=', d.followee_id)
        .executeTakeFirst();
      return friends ? [] : [{ user_id: d.followee_id, type: 'follow', actor_id: d.follower_id }];
    }
    case 'post.liked': {
      const d = event.data as EventMap['post.liked'];
      // Unliked, or the post deleted, before this ran: nothing to tell.
      const like = await db
        .selectFrom('likes')
        .select('user_id')
        .where('post_id', '=', d.post_id)
        .where('user_id', '=', d.user_id)
        .executeTakeFirst();
      if (!like) return [];
      return [
        {
          user_id: d.author_id,
          type: 'like',
          actor_id: d.user_id,
          post_id: d.post_id,
          group_key: `like:${d.post_id}`,
        },
      ];
    }
    case 'post.created': {
      const d = event.data as EventMap['post.created'];
      const post = await db
        .selectFrom('posts')
        .select('text')
        .where('id', '=', d.post_id)
        .executeTakeFirst();
      if (!post) return [];
      return (await mentions(db, post.text, d.post_id, d.author_id)).map((user_id) => ({
        user_id,
        type: 'mention' as const,
        actor_id: d.author_id,
        post_id: d.post_id,
      }));
    }
    case 'comment.created': {
      const d = event.data as EventMap['comment.created'];
      const comment = await db
        .selectFrom('comments')
        .select('text')
        .where('id', '=', d.comment_id)
        .executeTakeFirst();
      if (!comment) return [];
      const on = { actor_id: d.author_id, post_id: d.post_id, comment_id: d.comment_id };
      const mentioned = await mentions(db, comment.text, d.post_id, d.author_id);
      return [
        { user_id: d.post_author_id, type: 'comment' as const, ...on },
        ...mentioned
          .filter((id) => id !== d.post_author_id)
          .map((user_id) => ({ user_id, type: 'mention' as const, ...on })),
      ];
    }
    default:
      return [];
  }
}

/** Nobody is notified of their own actions, nor by someone in a block with them or muted by them. */
async function allowed(db: Kysely<DB>, userId: string, actorId: string): Promise<boolean> {
  if (userId === actorId) return false;
  const tie = await db
    .selectFrom('blocks')
    .select('blocker_id')
    .where((eb) =>
      eb.or([
        eb.and([eb('blocker_id', '=', userId), eb('blocked_id', '=', actorId)]),
        eb.and([eb('blocker_id', '=', actorId), eb('blocked_id', '=', userId)]),
      ]),
    )
    .union(
      db
        .selectFrom('mutes')
        .select('muter_id as blocker_id')
        .where('muter_id', '=', userId)
        .where('muted_id', '=', actorId),
    )
    .executeTakeFirst();
  return tie === undefined;
}

/**
 * The notifications consumer: stores each notification and appends it to the recipient's
 * stream in one transaction, applied once per event; then tells the API nodes.
 */
export function notificationsConsumer(db: Kysely<DB>, publisher: StreamPublisher): Consumer {
  return {
    group: 'notifications',
    types: [
      'friend_request.sent',
      'friend_request.accepted',
      'follow.created',
      'post.liked',
      'post.created',
      'comment.created',
    ],
    handle: async (event) => {
      // Most posts mention nobody: nothing to record, not even that the event was seen.
      if (
        event.type === 'post.created' &&
        (event.data as EventMap['post.created']).mentions === false
      )
        return;
      const deliveries: Delivery[] = [];
      await applyOnce(db, 'notifications', event.id, async (trx) => {
        deliveries.length = 0; // a retried transaction starts again
        const repo = new NotificationsRepository(trx);
        // In user id order: each recipient's stream counter (their users row) is locked until
        // commit, and counters are always locked in id order (see UsersRepository.adjustCounts).
        const planned = (await plan(trx, event)).sort((a, b) =>
          a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0,
        );
        for (const n of planned) {
          if (!(await allowed(trx, n.user_id, n.actor_id))) continue;
          const id = await repo.add(n);
          if (!id) continue;
          const [view] = await repo.list(n.user_id, { ids: [id], limit: 1 });
          if (!view) continue; // every actor hidden from the recipient by a block
          deliveries.push(
            ...(await new StreamLog(trx).append([
              { userId: n.user_id, type: 'notification', data: { ...view } },
            ])),
          );
        }
      });
      await publisher.publish(deliveries);
    },
  };
}
