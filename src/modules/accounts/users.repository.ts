import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { CounterColumn, DB, NewUserRow, UserRow } from '../../infra/db/schema.ts';
import { normalizeUsername } from '../../text.ts';

/** Escapes LIKE wildcards so a search for `a_b` matches the underscore literally. */
function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
}

/** Users in a block with `viewerId`, either way (a user's own blocks: a handful of rows). */
const blockedWith = (viewerId: string): RawBuilder<unknown> =>
  sql`(select b.blocked_id from blocks b where b.blocker_id = ${viewerId}
    union all select b.blocker_id from blocks b where b.blocked_id = ${viewerId})`;

/** Users `column` names who are not in a block with the viewer (everyone, for anonymous). */
const notBlockedWith = (viewerId: string | null, column: string): RawBuilder<boolean> =>
  viewerId === null
    ? sql<boolean>`true`
    : sql<boolean>`${sql.ref(column)} not in ${blockedWith(viewerId)}`;

/** A profile as one viewer sees it: counters cut to what they may list. */
export interface ProfileRow extends UserRow {
  /** True when the viewer and the owner are in a block, either way (the profile is hidden). */
  blocked: boolean;
}

function profileOf(
  row: UserRow & {
    blocked: boolean;
    seen_post_count: number;
    hidden_followers: number;
    hidden_following: number;
    hidden_friends: number;
  },
): ProfileRow {
  const { seen_post_count, hidden_followers, hidden_following, hidden_friends, ...user } = row;
  return {
    ...user,
    blocked: Boolean(user.blocked),
    post_count: Number(seen_post_count),
    follower_count: user.follower_count - Number(hidden_followers),
    following_count: user.following_count - Number(hidden_following),
    friend_count: user.friend_count - Number(hidden_friends),
  };
}

/** SQL for users. No rules here: the service decides, this reads and writes. */
export class UsersRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  insert(row: NewUserRow): Promise<UserRow> {
    return this.#db.insertInto('users').values(row).returningAll().executeTakeFirstOrThrow();
  }

  findById(id: string): Promise<UserRow | undefined> {
    return this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  findByUsername(username: string): Promise<UserRow | undefined> {
    return this.#db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', normalizeUsername(username))
      .executeTakeFirst();
  }

  /** `login` is a username (normalised) or an e-mail address, matched case-insensitively. */
  findByLogin(login: string): Promise<UserRow | undefined> {
    const lower = login.toLowerCase();
    return this.#db
      .selectFrom('users')
      .selectAll()
      .where((eb) =>
        lower.includes('@')
          ? eb(eb.fn('lower', ['email']), '=', lower)
          : eb('username', '=', normalizeUsername(login)),
      )
      .executeTakeFirst();
  }

  /**
   * Users as `viewerId` sees them. Follower, following and friend counts leave out the users in
   * a block with the viewer (only those users' edges are counted, so the cost follows the
   * viewer's blocks); the post count counts the posts the viewer may see: all for the owner and
   * their friends (friends follow each other: the stored counter), public and followers-only
   * posts for a follower, public ones for everyone else (counted over the author's posts).
   */
  #profiles(viewerId: string | null) {
    const v = viewerId;
    const inBlock =
      v === null
        ? sql<boolean>`false`
        : sql<boolean>`exists (select 1 from blocks b
            where (b.blocker_id = ${v} and b.blocked_id = u.id)
               or (b.blocker_id = u.id and b.blocked_id = ${v}))`;
    const postCount =
      v === null
        ? sql<number>`(select count(*)::int from posts p
            where p.author_id = u.id and p.visibility = 'public')`
        : sql<number>`case
            when u.id = ${v} or exists (
              select 1 from friendships fr where fr.user_id = ${v} and fr.friend_id = u.id)
            then u.post_count
            else (select count(*)::int from posts p where p.author_id = u.id
              and (p.visibility = 'public' or (p.visibility = 'followers' and exists (
                select 1 from follows f where f.follower_id = ${v} and f.followee_id = u.id))))
          end`;
    const hidden = (table: string, own: string, other: string) =>
      v === null
        ? sql<number>`0`
        : sql<number>`(select count(*)::int from ${sql.table(table)} e
            where e.${sql.ref(own)} = u.id and e.${sql.ref(other)} in ${blockedWith(v)})`;
    return this.#db
      .selectFrom('users as u')
      .selectAll('u')
      .select([
        inBlock.as('blocked'),
        postCount.as('seen_post_count'),
        hidden('follows', 'followee_id', 'follower_id').as('hidden_followers'),
        hidden('follows', 'follower_id', 'followee_id').as('hidden_following'),
        hidden('friendships', 'user_id', 'friend_id').as('hidden_friends'),
      ]);
  }

  /** The profile named `username` as `viewerId` sees it (see `#profiles`), in one query. */
  async findProfile(username: string, viewerId: string | null): Promise<ProfileRow | undefined> {
    const row = await this.#profiles(viewerId)
      .where('u.username', '=', normalizeUsername(username))
      .where('u.deactivated_at', 'is', null)
      .executeTakeFirst();
    return row && profileOf(row);
  }

  /** Records that the user was active now; false when there is no such (active) user. */
  async touchActive(userId: string): Promise<boolean> {
    const { numUpdatedRows } = await this.#db
      .updateTable('users')
      .set({ last_active_at: new Date() })
      .where('id', '=', userId)
      // A deactivated account (deletion requested) is signed out everywhere.
      .where('deactivated_at', 'is', null)
      .executeTakeFirst();
    return numUpdatedRows > 0n;
  }

  /**
   * Cancels the user's deletion while it is in its grace period (logging in does) and shows the
   * account again; false once the erasure is due or has begun. Run it in a transaction.
   */
  async reactivate(userId: string): Promise<boolean> {
    const deletion = await this.#db
      .selectFrom('account_deletions')
      .select(['phase', 'erase_after'])
      .where('user_id', '=', userId)
      .forUpdate()
      .executeTakeFirst();
    if (deletion && (deletion.phase !== 'waiting' || deletion.erase_after <= new Date())) {
      return false;
    }
    await this.#db.deleteFrom('account_deletions').where('user_id', '=', userId).execute();
    await this.#db
      .updateTable('users')
      .set({ deactivated_at: null })
      .where('id', '=', userId)
      .execute();
    return true;
  }

  /** True when either user blocks the other. */
  async inBlock(a: string, b: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('blocks')
      .select('blocker_id')
      .where((eb) =>
        eb.or([
          eb.and([eb('blocker_id', '=', a), eb('blocked_id', '=', b)]),
          eb.and([eb('blocker_id', '=', b), eb('blocked_id', '=', a)]),
        ]),
      )
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * Users whose username starts with `prefix`, in username order, after `afterUsername`,
   * leaving out those in a block with the viewer.
   */
  async searchByPrefix(
    prefix: string,
    afterUsername: string | undefined,
    limit: number,
    viewerId: string | null = null,
  ): Promise<ProfileRow[]> {
    let q = this.#profiles(viewerId)
      .where('u.username', 'like', likePrefix(normalizeUsername(prefix)))
      .where(notBlockedWith(viewerId, 'u.id'))
      // Suspended accounts are gone for everyone; limited ones are found by no search.
      .where('u.suspended_at', 'is', null)
      .where('u.limited_at', 'is', null)
      .orderBy('u.username')
      .limit(limit);
    if (afterUsername !== undefined) q = q.where('u.username', '>', afterUsername);
    return (await q.execute()).map(profileOf);
  }

  update(
    id: string,
    patch: Partial<
      Pick<
        UserRow,
        'display_name' | 'bio' | 'password_hash' | 'email' | 'email_verified_at' | 'dm_policy'
      >
    >,
  ): Promise<UserRow | undefined> {
    return this.#db
      .updateTable('users')
      .set({ ...patch, updated_at: new Date() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  /** Users by username (normalised here), in no particular order. */
  findManyByUsernames(usernames: readonly string[]): Promise<UserRow[]> {
    if (usernames.length === 0) return Promise.resolve([]);
    const names = usernames.map(normalizeUsername);
    return this.#db.selectFrom('users').selectAll().where('username', 'in', names).execute();
  }

  /** Users by id, in no particular order (for hydrating lists). */
  findManyByIds(ids: readonly string[]): Promise<UserRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.#db.selectFrom('users').selectAll().where('id', 'in', ids).execute();
  }

  /**
   * Adds deltas to profile counters: one UPDATE per user, in id order, so two transactions
   * that touch the same users always lock them in the same order (no deadlock). Callers run it
   * last in their transaction: a popular account's row then stays locked for the commit only.
   */
  async adjustCounts(
    changes: { userId: string; column: CounterColumn; delta: number }[],
  ): Promise<void> {
    const byUser = new Map<string, Partial<Record<CounterColumn, number>>>();
    for (const { userId, column, delta } of changes) {
      const deltas = byUser.get(userId) ?? {};
      deltas[column] = (deltas[column] ?? 0) + delta;
      byUser.set(userId, deltas);
    }
    for (const userId of [...byUser.keys()].sort()) {
      const deltas = Object.entries(byUser.get(userId)!).filter(([, d]) => d !== 0) as [
        CounterColumn,
        number,
      ][];
      if (deltas.length === 0) continue;
      await this.#db
        .updateTable('users')
        .set((eb) => Object.fromEntries(deltas.map(([column, d]) => [column, eb(column, '+', d)])))
        .where('id', '=', userId)
        .execute();
    }
  }
}
