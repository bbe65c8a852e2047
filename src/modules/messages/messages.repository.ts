import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import { notBlockedWith } from '../posts/visibility.repository.ts';

export interface ConversationRow {
  id: string;
  user_a: string;
  user_b: string;
  created_at: Date;
  last_message_id: string | null;
}

/** A conversation as one participant sees it. */
export interface ConversationListRow extends ConversationRow {
  other_id: string;
  other_username: string;
  other_display_name: string;
  unread_count: number;
  /** The position a list is ordered by: the last message, or the conversation itself. */
  position: string;
}

/** SQL for conversations and messages. */
export class MessagesRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  findPair(a: string, b: string): Promise<ConversationRow | undefined> {
    const [user_a, user_b] = a < b ? [a, b] : [b, a];
    return this.#db
      .selectFrom('conversations')
      .selectAll()
      .where('user_a', '=', user_a)
      .where('user_b', '=', user_b)
      .executeTakeFirst();
  }

  /** The conversation, if `userId` takes part in it (locked for update when asked). */
  async findFor(
    id: string,
    userId: string,
    forUpdate = false,
  ): Promise<ConversationRow | undefined> {
    let q = this.#db
      .selectFrom('conversations')
      .selectAll()
      .where('id', '=', id)
      .where((eb) => eb.or([eb('user_a', '=', userId), eb('user_b', '=', userId)]));
    if (forUpdate) q = q.forUpdate();
    return q.executeTakeFirst();
  }

  /** Creates the pair's conversation, or returns the one a concurrent request just made. */
  async create(
    id: string,
    a: string,
    b: string,
  ): Promise<{ row: ConversationRow; created: boolean }> {
    const [user_a, user_b] = a < b ? [a, b] : [b, a];
    const inserted = await this.#db
      .insertInto('conversations')
      .values({ id, user_a, user_b, last_message_id: null })
      .onConflict((oc) => oc.columns(['user_a', 'user_b']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!inserted) return { row: (await this.findPair(a, b))!, created: false };
    await this.#db
      .insertInto('conversation_members')
      .values([
        { conversation_id: id, user_id: user_a, last_read_id: null },
        { conversation_id: id, user_id: user_b, last_read_id: null },
      ])
      .execute();
    return { row: inserted, created: true };
  }

  /**
   * The user's conversations, most recent activity first, with the other side and unread count;
   * none with someone in a block with them (closed while the block lasts).
   */
  list(
    userId: string,
    opts: { before?: string | undefined; limit: number; id?: string },
  ): Promise<ConversationListRow[]> {
    const position = sql<string>`coalesce(c.last_message_id, c.id)`;
    let q = this.#db
      .selectFrom('conversation_members as m')
      .innerJoin('conversations as c', 'c.id', 'm.conversation_id')
      .innerJoin('users as o', (join) =>
        join.on((eb) =>
          eb(
            'o.id',
            '=',
            eb
              .case()
              .when('c.user_a', '=', userId)
              .then(eb.ref('c.user_b'))
              .else(eb.ref('c.user_a'))
              .end(),
          ),
        ),
      )
      .selectAll('c')
      .select([
        'o.id as other_id',
        'o.username as other_username',
        'o.display_name as other_display_name',
        position.as('position'),
        sql<number>`(select count(*) from messages x
          where x.conversation_id = c.id and x.sender_id <> ${userId}
            and (m.last_read_id is null or x.id > m.last_read_id))`.as('unread_count'),
      ])
      .where('m.user_id', '=', userId)
      .where(notBlockedWith(userId, 'o.id'))
      .orderBy(position, 'desc')
      .limit(opts.limit);
    if (opts.before !== undefined) q = q.where(position, '<', opts.before);
    if (opts.id !== undefined) q = q.where('c.id', '=', opts.id);
    return q
      .execute()
      .then((rows) => rows.map((r) => ({ ...r, unread_count: Number(r.unread_count) })));
  }

  unreadCount(conversationId: string, userId: string): Promise<number> {
    return this.#db
      .selectFrom('messages as x')
      .innerJoin('conversation_members as m', (j) =>
        j.onRef('m.conversation_id', '=', 'x.conversation_id').on('m.user_id', '=', userId),
      )
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('x.conversation_id', '=', conversationId)
      .where('x.sender_id', '<>', userId)
      .where(sql<boolean>`(m.last_read_id is null or x.id > m.last_read_id)`)
      .executeTakeFirstOrThrow()
      .then((r) => Number(r.n));
  }

  messages(conversationId: string, before: string | undefined, limit: number) {
    let q = this.#db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .orderBy('id', 'desc')
      .limit(limit);
    if (before !== undefined) q = q.where('id', '<', before);
    return q.execute();
  }

  /** Messages of the conversation after `afterId`, oldest first. */
  messagesAfter(conversationId: string, afterId: string, limit: number) {
    return this.#db
      .selectFrom('messages')
      .selectAll()
      .where('conversation_id', '=', conversationId)
      .where('id', '>', afterId)
      .orderBy('id', 'asc')
      .limit(limit)
      .execute();
  }
  /** For each message, the one before it in its conversation and its sender (none: absent). */
  async previous(ids: readonly string[]): Promise<Map<string, { id: string; sender_id: string }>> {
    if (ids.length === 0) return new Map();
    const rows = await this.#db
      .selectFrom('messages as m')
      .innerJoinLateral(
        (eb) =>
          eb
            .selectFrom('messages as p')
            .select(['p.id', 'p.sender_id'])
            .whereRef('p.conversation_id', '=', 'm.conversation_id')
            .whereRef('p.id', '<', 'm.id')
            .orderBy('p.id', 'desc')
            .limit(1)
            .as('prev'),
        (join) => join.onTrue(),
      )
      .select(['m.id', 'prev.id as prev_id', 'prev.sender_id as prev_sender_id'])
      .where('m.id', 'in', ids)
      .execute();
    return new Map(rows.map((r) => [r.id, { id: r.prev_id, sender_id: r.prev_sender_id }]));
  }
  findMessages(ids: readonly string[]) {
    if (ids.length === 0) return Promise.resolve([]);
    return this.#db.selectFrom('messages').selectAll().where('id', 'in', ids).execute();
  }

  findMessage(id: string) {
    return this.#db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Stores a message (as the conversation's last, read by its sender); returns the row. */
  async addMessage(m: { id: string; conversation_id: string; sender_id: string; text: string }) {
    const row = await this.#db
      .insertInto('messages')
      .values(m)
      .returningAll()
      .executeTakeFirstOrThrow();
    await this.#db
      .updateTable('conversations')
      .set({ last_message_id: m.id })
      .where('id', '=', m.conversation_id)
      .execute();
    // Your own message is read by you.
    await this.markRead(m.conversation_id, m.sender_id, m.id);
    return row;
  }

  /** Moves the reader's mark forward to `messageId`; false when it was already there or past. */
  async markRead(conversationId: string, userId: string, messageId: string): Promise<boolean> {
    const row = await this.#db
      .updateTable('conversation_members')
      .set({ last_read_id: messageId })
      .where('conversation_id', '=', conversationId)
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('last_read_id', 'is', null), eb('last_read_id', '<', messageId)]))
      .returning('user_id')
      .executeTakeFirst();
    return row !== undefined;
  }
}
