import type { Kysely } from 'kysely';
import { applyOnce } from '../../events/apply-once.ts';
import { defineConsumer, type Consumer } from '../../events/consumer.ts';
import type { DomainEvent } from '../../infra/bus/bus.ts';
import type { DB } from '../../infra/db/schema.ts';
import { mentionedUsernames } from '../../text.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { CommentsRepository } from '../comments/comments.repository.ts';
import { PostsRepository } from '../posts/posts.repository.ts';
import type { StreamPublisher } from '../realtime/publisher.service.ts';
import { StreamLog, type Delivery, type StreamItem } from '../realtime/stream-log.repository.ts';
import { SocialRepository } from '../social/social.repository.ts';
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

/** Reads the current state an event's notifications depend on (inside its transaction). */
type Plan = (trx: Kysely<DB>) => Promise<Planned[]>;

/** Users mentioned in `text` who may see the post (the author never notifies themselves). */
async function mentioned(trx: Kysely<DB>, text: string, postId: string, actorId: string) {
  const names = mentionedUsernames(text);
  if (names.length === 0) return [];
  const users = await new UsersRepository(trx).findManyByUsernames(names);
  const others = users.map((u) => u.id).filter((id) => id !== actorId);
  return new PostsRepository(trx).seenBy(postId, others);
}

/**
 * The notifications consumer: what each event notifies is read from the current state (a
 * deleted post or an undone like notifies nobody); each notification is stored and appended to
 * the recipient's stream in one transaction, applied once per event; then the API nodes are told.
 */
export function notificationsConsumer(db: Kysely<DB>, publisher: StreamPublisher): Consumer {
  async function notify(event: DomainEvent, plan: Plan): Promise<void> {
    const deliveries: Delivery[] = [];
    await applyOnce(db, 'notifications', event.id, async (trx) => {
      deliveries.length = 0; // a retried transaction starts again
      const repo = new NotificationsRepository(trx);
      const social = new SocialRepository(trx);
      // In user id order (each recipient's stream counter is locked in id order anyway).
      const planned = (await plan(trx)).sort((a, b) =>
        a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : 0,
      );
      // Nobody is notified of their own actions, nor by someone in a block with them or muted:
      // asked once per actor (an event has one) for all its recipients.
      const silenced = new Set<string>();
      for (const actor of new Set(planned.map((n) => n.actor_id))) {
        const users = planned.filter((n) => n.actor_id === actor).map((n) => n.user_id);
        for (const id of await social.silencedAmong(users, actor)) silenced.add(`${id}:${actor}`);
      }
      const items: StreamItem[] = [];
      for (const n of planned) {
        if (n.user_id === n.actor_id || silenced.has(`${n.user_id}:${n.actor_id}`)) continue;
        const id = await repo.add(n);
        if (!id) continue;
        const [view] = await repo.list(n.user_id, { ids: [id], limit: 1 });
        if (!view) continue; // every actor hidden from the recipient by a block
        items.push({ userId: n.user_id, type: 'notification', data: { ...view } });
      }
      // All at the end, in one statement: the recipients' counters are locked from there to the
      // commit only, not across the statements above.
      deliveries.push(...(await new StreamLog(trx).append(items)));
    });
    await publisher.publish(deliveries);
  }

  return defineConsumer('notifications', {
    'friend_request.sent': (d, event) =>
      notify(event, async () => [
        {
          user_id: d.recipient_id,
          type: 'friend_request',
          actor_id: d.sender_id,
          request_id: d.request_id,
        },
      ]),
    'friend_request.accepted': (d, event) =>
      notify(event, async () => [
        {
          user_id: d.sender_id,
          type: 'friend_accepted',
          actor_id: d.recipient_id,
          request_id: d.request_id,
        },
      ]),
    'follow.created': (d, event) =>
      notify(event, async (trx) =>
        // Friends follow each other by accepting; `friend_accepted` already says so.
        (await new SocialRepository(trx).areFriends(d.follower_id, d.followee_id))
          ? []
          : [{ user_id: d.followee_id, type: 'follow', actor_id: d.follower_id }],
      ),
    'post.liked': (d, event) =>
      notify(event, async (trx) =>
        // Unliked, or the post deleted, before this ran: nothing to tell.
        (await new PostsRepository(trx).hasLike(d.post_id, d.user_id))
          ? [
              {
                user_id: d.author_id,
                type: 'like',
                actor_id: d.user_id,
                post_id: d.post_id,
                group_key: `like:${d.post_id}`,
              },
            ]
          : [],
      ),
    'post.created': async (d, event) => {
      // Most posts mention nobody: nothing to record, not even that the event was seen.
      if (d.mentions === false) return;
      await notify(event, async (trx) => {
        const post = await new PostsRepository(trx).findById(d.post_id);
        if (!post) return [];
        const users = await mentioned(trx, post.text, d.post_id, d.author_id);
        return users.map((user_id) => ({
          user_id,
          type: 'mention' as const,
          actor_id: d.author_id,
          post_id: d.post_id,
        }));
      });
    },
    'comment.created': (d, event) =>
      notify(event, async (trx) => {
        const comment = await new CommentsRepository(trx).findById(d.comment_id);
        if (!comment) return [];
        const on = { actor_id: d.author_id, post_id: d.post_id, comment_id: d.comment_id };
        const users = await mentioned(trx, comment.text, d.post_id, d.author_id);
        return [
          { user_id: d.post_author_id, type: 'comment' as const, ...on },
          ...users
            .filter((id) => id !== d.post_author_id)
            .map((user_id) => ({ user_id, type: 'mention' as const, ...on })),
        ];
      }),
  });
}
