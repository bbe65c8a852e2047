import { sql, type Kysely } from 'kysely';
import type { DB, UserRow } from '../../infra/db/schema.ts';
import { notBlockedWith } from '../posts/visibility.repository.ts';
import { UsersRepository } from '../accounts/users.repository.ts';

/** How the viewer stands towards another user. */
export interface Relationship {
  user_id: string;
  following: boolean;
  followed_by: boolean;
  friends: boolean;
  request_outgoing: boolean;
  request_incoming: boolean;
  blocking: boolean;
  blocked_by: boolean;
  muting: boolean;
}

/** A keyset position in a list ordered by (created_at desc, id desc). */
export interface TimeCursor {
  t: string;
  id: string;
}

// Edge lists: table, the column holding the listed user's counterpart, the listed user's column.
const EDGE_LISTS = {
  followers: ['follows', 'followee_id', 'follower_id'],
  following: ['follows', 'follower_id', 'followee_id'],
  friends: ['friendships', 'user_id', 'friend_id'],
  // The user's own blocks and mutes: every user in them is listed (no block filter).
  blocks: ['blocks', 'blocker_id', 'blocked_id'],
  mutes: ['mutes', 'muter_id', 'muted_id'],
} as const;
export type EdgeList = keyof typeof EDGE_LISTS;

/** SQL for the social graph: follows, friendships, friend requests, blocks and mutes. */
export class SocialRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Every relationship flag between the viewer and each of `otherIds`, in one query. */
  async relationships(viewerId: string, otherIds: readonly string[]): Promise<Relationship[]> {
    if (otherIds.length === 0) return [];
    const rows = await this.#db
      .selectFrom('users as u')
      .where('u.id', 'in', otherIds)
      .select((eb) => [
        'u.id as user_id',
        eb
          .exists(
            eb
              .selectFrom('follows')
              .whereRef('followee_id', '=', 'u.id')
              .where('follower_id', '=', viewerId),
          )
          .as('following'),
        eb
          .exists(
            eb
              .selectFrom('follows')
              .whereRef('follower_id', '=', 'u.id')
              .where('followee_id', '=', viewerId),
          )
          .as('followed_by'),
        eb
          .exists(
            eb
              .selectFrom('friendships')
              .whereRef('friend_id', '=', 'u.id')
              .where('user_id', '=', viewerId),
          )
          .as('friends'),
        eb
          .exists(
            eb
              .selectFrom('friend_requests')
              .whereRef('recipient_id', '=', 'u.id')
              .where('sender_id', '=', viewerId)
              .where('status', '=', 'pending'),
          )
          .as('request_outgoing'),
        eb
          .exists(
            eb
              .selectFrom('friend_requests')
              .whereRef('sender_id', '=', 'u.id')
              .where('recipient_id', '=', viewerId)
              .where('status', '=', 'pending'),
          )
          .as('request_incoming'),
        eb
          .exists(
            eb
              .selectFrom('blocks')
              .whereRef('blocked_id', '=', 'u.id')
              .where('blocker_id', '=', viewerId),
          )
          .as('blocking'),
        eb
          .exists(
            eb
              .selectFrom('blocks')
              .whereRef('blocker_id', '=', 'u.id')
              .where('blocked_id', '=', viewerId),
          )
          .as('blocked_by'),
        eb
          .exists(
            eb
              .selectFrom('mutes')
              .whereRef('muted_id', '=', 'u.id')
              .where('muter_id', '=', viewerId),
          )
          .as('muting'),
      ])
      .execute();
    return rows.map((r) => ({
      user_id: r.user_id,
      following: Boolean(r.following),
      followed_by: Boolean(r.followed_by),
      friends: Boolean(r.friends),
      request_outgoing: Boolean(r.request_outgoing),
      request_incoming: Boolean(r.request_incoming),
      blocking: Boolean(r.blocking),
      blocked_by: Boolean(r.blocked_by),
      muting: Boolean(r.muting),
    }));
  }

  /**
   * Serialises every change between two users for the rest of the transaction, so a block
   * racing a follow, or two crossing friend requests, run one after the other instead of both
   * missing each other's write. One transaction-scoped advisory lock per (unordered) pair:
   * not the users rows, which every insert referencing a user locks FOR KEY SHARE (follows,
   * comments, likes, notifications) and the stream and counters update: locking them FOR UPDATE
   * made each storm against one account queue on its row and deadlock with those inserts.
   * A hash collision only makes two pairs wait for each other.
   */
  async lockPair(a: string, b: string): Promise<void> {
    const key = a < b ? `${a}:${b}` : `${b}:${a}`;
    await sql`select pg_advisory_xact_lock(hashtextextended(${`kith.pair:${key}`}, 0))`.execute(
      this.#db,
    );
  }

  /** True when either user blocks the other. */
  blockedEitherWay(a: string, b: string): Promise<boolean> {
    return new UsersRepository(this.#db).inBlock(a, b);
  }

  /** Inserts the follow; false when it already existed. */
  async addFollow(followerId: string, followeeId: string): Promise<boolean> {
    const row = await this.#db
      .insertInto('follows')
      .values({ follower_id: followerId, followee_id: followeeId })
      .onConflict((oc) => oc.doNothing())
      .returning('follower_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Deletes the follow; false when there was none. */
  async removeFollow(followerId: string, followeeId: string): Promise<boolean> {
    const row = await this.#db
      .deleteFrom('follows')
      .where('follower_id', '=', followerId)
      .where('followee_id', '=', followeeId)
      .returning('follower_id')
      .executeTakeFirst();
    return row !== undefined;
  }

  async isFollowing(followerId: string, followeeId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('follows')
      .select('follower_id')
      .where('follower_id', '=', followerId)
      .where('followee_id', '=', followeeId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Those of `userIds` who hear nothing from `actorId`: a block either way, or a mute by the user.
   * One statement for all.
   */
  async silencedAmong(userIds: readonly string[], actorId: string): Promise<Set<string>> {
    if (userIds.length === 0) return new Set();
    const { rows } = await sql<{ id: string }>`
      select v.id from unnest(${[...userIds]}::uuid[]) as v(id)
      where exists (select 1 from blocks b
          where (b.blocker_id = v.id and b.blocked_id = ${actorId})
             or (b.blocker_id = ${actorId} and b.blocked_id = v.id))
        or exists (select 1 from mutes m where m.muter_id = v.id and m.muted_id = ${actorId})`.execute(
      this.#db,
    );
    return new Set(rows.map((r) => r.id));
  }

  async areFriends(a: string, b: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('friendships')
      .select('user_id')
      .where('user_id', '=', a)
      .where('friend_id', '=', b)
      .executeTakeFirst();
    return row !== undefined;
  }

  /** Records the friendship in both directions; false when it already existed. */
  async addFriendship(a: string, b: string): Promise<boolean> {
    const rows = await this.#db
      .insertInto('friendships')
      .values([
        { user_id: a, friend_id: b },
        { user_id: b, friend_id: a },
      ])
      .onConflict((oc) => oc.doNothing())
      .returning('user_id')
      .execute();
    return rows.length > 0;
  }

  /** Removes the friendship in both directions; false when there was none. */
  async removeFriendship(a: string, b: string): Promise<boolean> {
    const rows = await this.#db
      .deleteFrom('friendships')
      .where((eb) =>
        eb.or([
          eb.and([eb('user_id', '=', a), eb('friend_id', '=', b)]),
          eb.and([eb('user_id', '=', b), eb('friend_id', '=', a)]),
        ]),
      )
      .returning('user_id')
      .execute();
    return rows.length > 0;
  }

  async addEdge(table: 'blocks' | 'mutes', actorId: string, targetId: string): Promise<boolean> {
    const row =
      table === 'blocks'
        ? await this.#db
            .insertInto('blocks')
            .values({ blocker_id: actorId, blocked_id: targetId })
            .onConflict((oc) => oc.doNothing())
            .returning('blocker_id')
            .executeTakeFirst()
        : await this.#db
            .insertInto('mutes')
            .values({ muter_id: actorId, muted_id: targetId })
            .onConflict((oc) => oc.doNothing())
            .returning('muter_id')
            .executeTakeFirst();
    return row !== undefined;
  }

  async removeEdge(table: 'blocks' | 'mutes', actorId: string, targetId: string): Promise<boolean> {
    const row =
      table === 'blocks'
        ? await this.#db
            .deleteFrom('blocks')
            .where('blocker_id', '=', actorId)
            .where('blocked_id', '=', targetId)
            .returning('blocker_id')
            .executeTakeFirst()
        : await this.#db
            .deleteFrom('mutes')
            .where('muter_id', '=', actorId)
            .where('muted_id', '=', targetId)
            .returning('muter_id')
            .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Users on one side of an edge table, newest edge first, keyset-paged on (created_at, id).
   * `followers`: who follows `userId`; `following`: whom `userId` follows; `friends`. Users in
   * a block with `viewerId`, either way, are left out, except from `blocks` and `mutes` (the
   * user's own lists: `viewerId` is the user).
   */
  async listEdgeUsers(
    kind: EdgeList,
    userId: string,
    viewerId: string | null,
    after: TimeCursor | undefined,
    limit: number,
  ): Promise<(UserRow & { edge_at: Date })[]> {
    const [table, own, other] = EDGE_LISTS[kind];
    const position = after
      ? sql`and (e.created_at, u.id) < (${new Date(after.t)}, ${after.id})`
      : sql``;
    const { rows } = await sql<UserRow & { edge_at: Date }>`
      select u.*, e.created_at as edge_at
      from ${sql.table(table)} e join users u on u.id = e.${sql.ref(other)}
      where e.${sql.ref(own)} = ${userId} ${position}
        and ${kind === 'blocks' || kind === 'mutes' ? sql`true` : notBlockedWith(viewerId, 'u.id')}
      order by e.created_at desc, u.id desc
      limit ${limit}`.execute(this.#db);
    return rows;
  }

  /**
   * Friends of the user's friends, ranked by how many friends they share, excluding the user,
   * their friends and anyone blocked either way. Keyset on (mutual desc, username asc).
   */
  suggestions(userId: string, after: { m: number; u: string } | undefined, limit: number) {
    let q = this.#db
      .selectFrom('friendships as mine')
      .innerJoin('friendships as theirs', 'theirs.user_id', 'mine.friend_id')
      .innerJoin('users as u', 'u.id', 'theirs.friend_id')
      .where('mine.user_id', '=', userId)
      .where('theirs.friend_id', '!=', userId)
      .where((eb) =>
        eb.not(
          eb.or([
            eb.exists(
              eb
                .selectFrom('friendships as f')
                .whereRef('f.friend_id', '=', 'u.id')
                .where('f.user_id', '=', userId),
            ),
            eb.exists(
              eb
                .selectFrom('blocks as b')
                .whereRef('b.blocked_id', '=', 'u.id')
                .where('b.blocker_id', '=', userId),
            ),
            eb.exists(
              eb
                .selectFrom('blocks as b')
                .whereRef('b.blocker_id', '=', 'u.id')
                .where('b.blocked_id', '=', userId),
            ),
          ]),
        ),
      )
      .groupBy('u.id')
      .selectAll('u')
      .select(sql<number>`count(*)::int`.as('mutual'))
      .orderBy(sql`count(*)`, 'desc')
      .orderBy('u.username', 'asc')
      .limit(limit);
    if (after) {
      q = q.having((eb) =>
        eb.or([
          eb(sql`count(*)`, '<', after.m),
          eb.and([eb(sql`count(*)`, '=', after.m), eb('u.username', '>', after.u)]),
        ]),
      );
    }
    return q.execute();
  }
}
