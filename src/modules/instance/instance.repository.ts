import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/database.ts';

export interface InstanceCounts {
  users: number;
  activeMonth: number;
  activeHalfyear: number;
  posts: number;
}

/** The counts discovery documents publish (NodeInfo `usage`, instance `stats`). */
export class InstanceRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async counts(now: Date): Promise<InstanceCounts> {
    const month = new Date(now.getTime() - 30 * 86_400_000);
    const halfyear = new Date(now.getTime() - 180 * 86_400_000);
    const users = await this.#db
      .selectFrom('users')
      .select([
        sql<string>`count(*)`.as('total'),
        sql<string>`count(*) filter (where last_active_at >= ${month})`.as('month'),
        sql<string>`count(*) filter (where last_active_at >= ${halfyear})`.as('halfyear'),
        sql<string>`coalesce(sum(post_count), 0)`.as('posts'),
      ])
      .executeTakeFirstOrThrow();
    return {
      users: Number(users.total),
      activeMonth: Number(users.month),
      activeHalfyear: Number(users.halfyear),
      posts: Number(users.posts),
    };
  }
}
