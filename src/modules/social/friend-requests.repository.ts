import type { Kysely } from 'kysely';
import type { DB, FriendRequestRow, FriendRequestStatus } from '../../infra/db/schema.ts';
import { notBlockedWith } from '../posts/visibility.repository.ts';

/** SQL for friend requests. At most one pending request per ordered pair (a unique index). */
export class FriendRequestsRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  createRequest(id: string, senderId: string, recipientId: string): Promise<FriendRequestRow> {
    return this.#db
      .insertInto('friend_requests')
      .values({
        id,
        sender_id: senderId,
        recipient_id: recipientId,
        status: 'pending',
        responded_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  findRequest(id: string, forUpdate = false): Promise<FriendRequestRow | undefined> {
    let q = this.#db.selectFrom('friend_requests').selectAll().where('id', '=', id);
    if (forUpdate) q = q.forUpdate();
    return q.executeTakeFirst();
  }

  findPendingRequest(senderId: string, recipientId: string): Promise<FriendRequestRow | undefined> {
    return this.#db
      .selectFrom('friend_requests')
      .selectAll()
      .where('sender_id', '=', senderId)
      .where('recipient_id', '=', recipientId)
      .where('status', '=', 'pending')
      .forUpdate()
      .executeTakeFirst();
  }

  /** Moves a pending request to a final status; undefined when it was no longer pending. */
  respondToRequest(
    id: string,
    status: Exclude<FriendRequestStatus, 'pending'>,
  ): Promise<FriendRequestRow | undefined> {
    return this.#db
      .updateTable('friend_requests')
      .set({ status, responded_at: new Date() })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .returningAll()
      .executeTakeFirst();
  }

  /** Cancels pending requests between two users, in both directions. */
  async cancelPendingBetween(a: string, b: string): Promise<void> {
    await this.#db
      .updateTable('friend_requests')
      .set({ status: 'cancelled', responded_at: new Date() })
      .where('status', '=', 'pending')
      .where((eb) =>
        eb.or([
          eb.and([eb('sender_id', '=', a), eb('recipient_id', '=', b)]),
          eb.and([eb('sender_id', '=', b), eb('recipient_id', '=', a)]),
        ]),
      )
      .execute();
  }

  /**
   * Pending requests to (incoming) or from (outgoing) the user, newest first, without those of
   * users in a block with them (a block cancels pending requests; this holds whatever the
   * order of events).
   */
  listPendingRequests(
    userId: string,
    direction: 'incoming' | 'outgoing',
    before: string | undefined,
    limit: number,
  ) {
    const incoming = direction === 'incoming';
    let q = this.#db
      .selectFrom('friend_requests')
      .selectAll()
      .where(incoming ? 'recipient_id' : 'sender_id', '=', userId)
      .where(notBlockedWith(userId, incoming ? 'sender_id' : 'recipient_id'))
      .where('status', '=', 'pending')
      .orderBy('id', 'desc')
      .limit(limit);
    if (before !== undefined) q = q.where('id', '<', before);
    return q.execute();
  }
}
