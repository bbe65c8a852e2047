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

  /** Appends events (inside the caller's transaction); returns them numbered. */
  async append(items: readonly StreamItem[]): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const item of items) {
      const row = await this.#db
        .updateTable('users')
        .set((eb) => ({ stream_seq: eb('stream_seq', '+', 1) }))
        .where('id', '=', item.userId)
        .returning('stream_seq')
        .executeTakeFirst();
      if (!row) continue; // the account is gone
      await this.#db
        .insertInto('stream_events')
        .values({
          user_id: item.userId,
          seq: row.stream_seq,
          type: item.type,
          data: JSON.stringify(item.data),
        })
        .execute();
      out.push({ user_id: item.userId, seq: row.stream_seq, type: item.type, data: item.data });
    }
    return out;
  }

  /** The same event for many users at once (a fan-out batch), in one statement. */
  async appendToMany(
    userIds: readonly string[],
    type: string,
    data: Record<string, unknown>,
  ): Promise<Delivery[]> {
    if (userIds.length === 0) return [];
    const { rows } = await sql<{ user_id: string; seq: number }>`
      with bumped as (
        update users set stream_seq = stream_seq + 1
        where ${idIn('id', userIds)}
        returning id, stream_seq
      )
      insert into stream_events (user_id, seq, type, data)
      select id, stream_seq, ${type}, ${JSON.stringify(data)}::jsonb from bumped
      returning user_id, seq`.execute(this.#db);
    return rows.map((r) => ({ user_id: r.user_id, seq: Number(r.seq), type, data }));
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
