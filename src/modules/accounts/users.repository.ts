import type { Kysely } from 'kysely';
import type { CounterColumn, DB, NewUserRow, UserRow } from '../../infra/db/schema.ts';
import { normalizeUsername } from '../../text.ts';

/** Escapes LIKE wildcards so a search for `a_b` matches the underscore literally. */
function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
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

  /** Users whose username starts with `prefix`, in username order, after `afterUsername`. */
  searchByPrefix(prefix: string, afterUsername: string | undefined, limit: number) {
    let q = this.#db
      .selectFrom('users')
      .selectAll()
      .where('username', 'like', likePrefix(normalizeUsername(prefix)))
      .orderBy('username')
      .limit(limit);
    if (afterUsername !== undefined) q = q.where('username', '>', afterUsername);
    return q.execute();
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
