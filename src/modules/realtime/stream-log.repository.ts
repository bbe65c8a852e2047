import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import { idIn } from '../../infra/db/sql.ts';

/** One event of a user's stream, as clients receive it. */
export interface StreamEvent {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

/** An event for a user, before it is numbered. */
export interface StreamItem {
  userId: string;
  type: string;
  data: Record<string, unknown>;
}

export type Delivery = StreamEvent & { user_id: string };

/**
 * The durable per-user event log. Appending numbers each user's events 1, 2, 3… (a counter on
 * the user row, bumped in the caller's transaction, so numbers follow commit order per user and
 * are never reused or skipped).
 */
export class StreamLog {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /**
   * Appends events (inside the caller's transaction); returns them numbered, each user's in the
   * order given. However many events and users: the counters are locked in user id order (as
   * every writer of user rows does, see UsersRepository.adjustCounts), each bumped once by its
   * number of events, and the events inserted in one statement. Users that are gone are skipped.
   */
  async append(items: readonly StreamItem[]): Promise<Delivery[]> {
    if (items.length === 0) return [];
    const users = [...new Set(items.map((i) => i.userId))].sort();
    const counts = new Map<string, number>();
    for (const i of items) counts.set(i.userId, (counts.get(i.userId) ?? 0) + 1);
    await sql`select 1 from users where ${idIn('id', users)} order by id for no key update`.execute(
      this.#db,
    );
    const { rows } = await sql<{ id: string; seq: string | number }>`
      update users u set stream_seq = u.stream_seq + c.n
      from unnest(${users}::uuid[], ${users.map((u) => counts.get(u)!)}::int[]) as c(id, n)
      where u.id = c.id
      returning u.id, u.stream_seq as seq`.execute(this.#db);
    // Each user's events take the numbers just below their new counter, in the order given.
    const next = new Map(rows.map((r) => [r.id, Number(r.seq) - counts.get(r.id)! + 1]));
    const out: Delivery[] = [];
    for (const item of items) {
      const seq = next.get(item.userId);
      if (seq === undefined) continue; // the account is gone
      next.set(item.userId, seq + 1);
      out.push({ user_id: item.userId, seq, type: item.type, data: item.data });
    }
    if (out.length === 0) return out;
    await sql`
      insert into stream_events (user_id, seq, type, data)
      select * from unnest(${out.map((d) => d.user_id)}::uuid[], ${out.map((d) => d.seq)}::bigint[],
        ${out.map((d) => d.type)}::text[], ${out.map((d) => JSON.stringify(d.data))}::jsonb[])`.execute(
      this.#db,
    );
    return out;
  }

  /** Events after `afterSeq`, up to `limit`, in order. */
  async since(userId: string, afterSeq: number, limit: number): Promise<StreamEvent[]> {
    const rows = await this.#db
      .selectFrom('stream_events')
      .select(['seq', 'type', 'data'])
      .where('user_id', '=', userId)
      .where('seq', '>', afterSeq)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ seq: Number(r.seq), type: r.type, data: r.data }));
  }

  /** The user's newest seq and the oldest still kept (0 / undefined when there is none). */
  async bounds(userId: string): Promise<{ last: number; oldest: number | undefined }> {
    const [user, oldest] = await Promise.all([
      this.#db.selectFrom('users').select('stream_seq').where('id', '=', userId).executeTakeFirst(),
      this.#db
        .selectFrom('stream_events')
        .select('seq')
        .where('user_id', '=', userId)
        .orderBy('seq')
        .limit(1)
        .executeTakeFirst(),
    ]);
    return { last: Number(user?.stream_seq ?? 0), oldest: oldest ? Number(oldest.seq) : undefined };
  }

  /** Newest seq of each user (the hub's periodic check for anything a lost broadcast missed). */
  async lastSeqs(userIds: readonly string[]): Promise<Map<string, number>> {
    if (userIds.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('users')
      .select(['id', 'stream_seq'])
      .where(idIn('id', userIds))
      .execute();
    return new Map(rows.map((r) => [r.id, Number(r.stream_seq)]));
  }

  /** Drops events older than the retention; a client further behind is told to resync. */
  async purge(olderThan: Date): Promise<void> {
    await this.#db.deleteFrom('stream_events').where('created_at', '<', olderThan).execute();
  }
}
