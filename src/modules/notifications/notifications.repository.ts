import { sql, type Kysely } from 'kysely';
import type { DB, NotificationsTable } from '../../infra/db/schema.ts';
import { newId } from '../../ids.ts';
import type { Insertable } from 'kysely';

export type NotificationType =
  'friend_request' | 'friend_accepted' | 'follow' | 'like' | 'comment' | 'mention';

export const NOTIFICATION_TYPES: readonly NotificationType[] = [
  'friend_request',
  'friend_accepted',
  'follow',
  'like',
  'comment',
  'mention',
];

/** Newest actors listed with a notification (the count says how many there are in all). */
const ACTORS_SHOWN = 5;

/**
 * Blocks hide notifications at read time, both ways: an actor in a block with the recipient is
 * left out of every list, count and stream frame, and a notification with no other actor is not
 * shown at all. Nothing is deleted, so an unblock brings them back as they were. (The users in a
 * block with someone are few, so these are a handful of primary-key probes per notification.)
 */
const blockedWith = (userId: string) => sql`(
  select blocked_id from blocks where blocker_id = ${userId}
  union all select blocker_id from blocks where blocked_id = ${userId})`;
/** How many of notification `n`'s actors are hidden from `userId` by a block. */
const hiddenActors = (userId: string) => sql<number>`(
  select count(*) from notification_actors h
  where h.notification_id = n.id and h.actor_id in ${blockedWith(userId)})`;

export interface NotificationView {
  id: string;
  type: NotificationType;
  actors: { id: string; username: string; display_name: string }[];
  actor_count: number;
  post_id: string | null;
  comment_id: string | null;
  request_id: string | null;
  read: boolean;
  created_at: string;
  updated_at: string;
}

/** SQL for notifications. */
export class NotificationsRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Adds a notification; one with a `group_key` absorbs later ones with the same key. */
  async add(n: Omit<Insertable<NotificationsTable>, 'id'>): Promise<string | undefined> {
    if (n.group_key == null) {
      const id = newId();
      await this.#db
        .insertInto('notifications')
        .values({ ...n, id })
        .execute();
      await this.#db
        .insertInto('notification_actors')
        .values({ notification_id: id, actor_id: n.actor_id })
        .execute();
      return id;
    }
    const { id } = await this.#db
      .insertInto('notifications')
      .values({ ...n, id: newId() })
      .onConflict((oc) =>
        oc
          .columns(['user_id', 'group_key'])
          .where('group_key', 'is not', null)
          .doUpdateSet({ user_id: (eb) => eb.ref('excluded.user_id') }),
      )
      .returning('id')
      .executeTakeFirstOrThrow();
    const added = await this.#db
      .insertInto('notification_actors')
      .values({ notification_id: id, actor_id: n.actor_id })
      .onConflict((oc) => oc.doNothing())
      .returning('actor_id')
      .executeTakeFirst();
    if (!added) return undefined; // the same actor again (e.g. like, unlike, like): nothing new
    await this.#db
      .updateTable('notifications')
      .set({
        actor_id: n.actor_id,
        actor_count: sql<number>`(select count(*) from notification_actors where notification_id = ${id})`,
        updated_at: new Date(),
        read_at: null,
      })
      .where('id', '=', id)
      .execute();
    return id;
  }

  /** Notifications with their newest actors, newest first (by last activity). */
  async list(
    userId: string,
    opts: {
      ids?: readonly string[];
      type?: NotificationType | undefined;
      after?: { t: string; id: string } | undefined;
      limit: number;
    },
  ): Promise<NotificationView[]> {
    let q = this.#db
      .selectFrom('notifications as n')
      .selectAll('n')
      .select([
        sql<NotificationView['actors']>`(
          select coalesce(json_agg(json_build_object('id', u.id, 'username', u.username, 'display_name', u.display_name) order by a.created_at desc), '[]'::json)
          from (select * from notification_actors where notification_id = n.id
                  and actor_id not in ${blockedWith(userId)}
                order by created_at desc limit ${ACTORS_SHOWN}) a
          join users u on u.id = a.actor_id)`.as('actors'),
        sql<number>`n.actor_count - ${hiddenActors(userId)}`.as('shown_count'),
      ])
      .where('n.user_id', '=', userId)
      .where(sql<boolean>`n.actor_count > ${hiddenActors(userId)}`)
      .orderBy('n.updated_at', 'desc')
      .orderBy('n.id', 'desc')
      .limit(opts.limit);
    if (opts.ids) q = q.where('n.id', 'in', opts.ids);
    if (opts.type) q = q.where('n.type', '=', opts.type);
    if (opts.after)
      q = q.where(
        sql<boolean>`(n.updated_at, n.id) < (${new Date(opts.after.t)}, ${opts.after.id})`,
      );
    const rows = await q.execute();
    return rows.map((r) => ({
      id: r.id,
      type: r.type as NotificationType,
      actors: r.actors,
      actor_count: Number(r.shown_count),
      post_id: r.post_id,
      comment_id: r.comment_id,
      request_id: r.request_id,
      read: r.read_at !== null,
      created_at: r.created_at.toISOString(),
      updated_at: r.updated_at.toISOString(),
    }));
  }

  /** Unread notifications the user is shown (see `blockedWith`). */
  async unreadCount(userId: string): Promise<number> {
    const row = await this.#db
      .selectFrom('notifications as n')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('n.user_id', '=', userId)
      .where('n.read_at', 'is', null)
      .where(sql<boolean>`n.actor_count > ${hiddenActors(userId)}`)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /**
   * Marks some (or, without ids, all) of the notifications the user is shown read; returns how
   * many changed. Those hidden by a block are left as they are: the count must not reveal them.
   */
  async markRead(userId: string, ids: readonly string[] | undefined): Promise<number> {
    let q = this.#db
      .updateTable('notifications as n')
      .set({ read_at: new Date() })
      .where('n.user_id', '=', userId)
      .where('n.read_at', 'is', null)
      .where(sql<boolean>`n.actor_count > ${hiddenActors(userId)}`);
    if (ids) q = q.where('n.id', 'in', ids);
    const result = await q.executeTakeFirst();
    return Number(result.numUpdatedRows);
  }
}
