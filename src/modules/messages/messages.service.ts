import type { Kysely } from 'kysely';
import { ForbiddenError, NotFoundError } from '../../errors.ts';
import type { DB } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { newId } from '../../ids.ts';
import { cleanText } from '../../text.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { UserRef, UsersService } from '../accounts/users.service.ts';
import { createOnce, type IdempotencyKey } from '../../infra/db/idempotency.ts';
import type { StreamPublisher } from '../realtime/publisher.service.ts';
import { StreamLog, type Delivery } from '../realtime/stream-log.repository.ts';
import { blocked, notYourself } from '../social/social.service.ts';
import { SocialRepository } from '../social/social.repository.ts';
import {
  MessagesRepository,
  type ConversationListRow,
  type ConversationRow,
} from './messages.repository.ts';

export const MESSAGE_MAX = 5_000;

export const conversationNotFound = () =>
  new NotFoundError('conversation_not_found', 'No such conversation.');
const messageNotFound = () => new NotFoundError('message_not_found', 'No such message.');
const notAllowed = () =>
  new ForbiddenError('messages_not_allowed', 'This user does not accept messages from you.');

export interface ConversationView {
  id: string;
  with: UserRef;
  last_message: MessageView | null;
  unread_count: number;
  created_at: string;
  /** Keyset position in the list (not shown to clients). */
  position: string;
}

export interface MessageView {
  id: string;
  conversation_id: string;
  sender: UserRef;
  text: string;
  created_at: string;
}

/**
 * One-to-one conversations. Only their two participants ever see one; whoever may not is told
 * it does not exist. While the two are in a block (either way) the conversation is closed to
 * both: left out of their lists, and 403 `blocked` to open, read, mark read or write to. Nothing
 * is deleted: an unblock reopens it with its history. Each message is stored and appended to
 * both participants' streams in one transaction, then announced to every API node.
 */
export class MessagesService {
  readonly #db: Kysely<DB>;
  readonly #users: UsersService;
  readonly #publisher: StreamPublisher;

  constructor(db: Kysely<DB>, users: UsersService, publisher: StreamPublisher) {
    this.#db = db;
    this.#users = users;
    this.#publisher = publisher;
  }

  /** The conversation with `username`, created if needed (then `created` is true). */
  async open(viewerId: string, username: string) {
    const other = await this.#users.resolve(username);
    if (other.id === viewerId) throw notYourself('message');
    const repo = new MessagesRepository(this.#db);
    let conversation = await repo.findPair(viewerId, other.id);
    let created = false;
    if (conversation) {
      if (await new SocialRepository(this.#db).blockedEitherWay(viewerId, other.id))
        throw blocked();
    } else {
      await this.#assertMayMessage(this.#db, viewerId, other.id);
      ({ row: conversation, created } = await transaction(this.#db, (trx) =>
        new MessagesRepository(trx).create(newId(), viewerId, other.id),
      ));
    }
    return { conversation: await this.get(viewerId, conversation.id), created };
  }

  async list(viewerId: string, before: string | undefined, limit: number) {
    return this.#present(await new MessagesRepository(this.#db).list(viewerId, { before, limit }));
  }

  async get(viewerId: string, id: string): Promise<ConversationView> {
    await this.#readable(this.#db, viewerId, id);
    const [row] = await new MessagesRepository(this.#db).list(viewerId, { id, limit: 1 });
    if (!row) throw conversationNotFound();
    return (await this.#present([row]))[0]!;
  }

  /** Adds each conversation's last message (one query for the page) and the other side. */
  async #present(rows: ConversationListRow[]): Promise<ConversationView[]> {
    const lastIds = rows.flatMap((r) => (r.last_message_id ? [r.last_message_id] : []));
    const last = await new MessagesRepository(this.#db).findMessages(lastIds);
    const senders = await this.#users.refsById(last.map((m) => m.sender_id));
    const byId = new Map(last.map((m) => [m.id, view(m, senders.get(m.sender_id)!)]));
    return rows.map((r) => ({
      id: r.id,
      with: { id: r.other_id, username: r.other_username, display_name: r.other_display_name },
      last_message: (r.last_message_id && byId.get(r.last_message_id)) || null,
      unread_count: r.unread_count,
      created_at: r.created_at.toISOString(),
      position: r.position,
    }));
  }

  async messages(viewerId: string, id: string, before: string | undefined, limit: number) {
    await this.#readable(this.#db, viewerId, id);
    const rows = await new MessagesRepository(this.#db).messages(id, before, limit);
    const senders = await this.#users.refsById(rows.map((r) => r.sender_id));
    return rows.map((r) => view(r, senders.get(r.sender_id)!));
  }

  async send(
    viewerId: string,
    id: string,
    rawText: string,
    idem?: IdempotencyKey,
  ): Promise<{ message: MessageView; replayed: boolean }> {
    const text = cleanText(rawText, '/text', { min: 1, max: MESSAGE_MAX, multiline: true });
    // Read before the transaction: nothing but `trx` may touch the database inside it.
    const sender = (await this.#users.refsById([viewerId])).get(viewerId);
    if (!sender) throw conversationNotFound();
    const deliveries: Delivery[] = [];
    const created = await transaction(this.#db, async (trx) => {
      deliveries.length = 0;
      const repo = new MessagesRepository(trx);
      const conversation = await repo.findFor(id, viewerId, true);
      if (!conversation) throw conversationNotFound();
      return createOnce(trx, viewerId, `messages.send:${id}`, idem, async () => {
        const other = otherSide(conversation, viewerId);
        await this.#assertMayMessage(trx, viewerId, other);
        const row = await repo.addMessage({
          id: newId(),
          conversation_id: id,
          sender_id: viewerId,
          text,
        });
        const message = view(row, sender);
        // To the recipient's connections and to the sender's (their other devices).
        deliveries.push(
          ...(await new StreamLog(trx).append(
            [other, viewerId].map((userId) => ({ userId, type: 'message', data: { ...message } })),
          )),
        );
        return row.id;
      });
    });
    await this.#publisher.publish(deliveries);
    const row = await new MessagesRepository(this.#db).findMessage(created.id);
    if (!row) throw conversationNotFound();
    return { message: view(row, sender), replayed: created.replayed };
  }

  /**
   * Sends `text` to `username`, opening the pair's conversation first if needed (the text is
   * checked before, so a refused message opens nothing).
   */
  async sendTo(viewerId: string, username: string, rawText: string, idem?: IdempotencyKey) {
    cleanText(rawText, '/text', { min: 1, max: MESSAGE_MAX, multiline: true });
    const { conversation } = await this.open(viewerId, username);
    return this.send(viewerId, conversation.id, rawText, idem);
  }
  /** One message, to the participants of its conversation only (404, or 403 across a block). */
  async message(viewerId: string, id: string) {
    const row = await new MessagesRepository(this.#db).findMessage(id);
    if (!row) throw messageNotFound();
    const conversation = await this.#readable(this.#db, viewerId, row.conversation_id);
    const senders = await this.#users.refsById([row.sender_id]);
    const sender = senders.get(row.sender_id);
    if (!sender) throw messageNotFound();
    return { message: view(row, sender), other: otherSide(conversation, viewerId) };
  }
  /** The messages around one: up to `before` older ones and `after` newer ones, oldest first. */
  async around(viewerId: string, id: string, before: number, after: number) {
    const { message } = await this.message(viewerId, id);
    const repo = new MessagesRepository(this.#db);
    const [older, newer] = await Promise.all([
      repo.messages(message.conversation_id, id, before),
      repo.messagesAfter(message.conversation_id, id, after),
    ]);
    const senders = await this.#users.refsById([...older, ...newer].map((r) => r.sender_id));
    const views = (rows: typeof older) =>
      rows.flatMap((r) => {
        const sender = senders.get(r.sender_id);
        return sender ? [view(r, sender)] : [];
      });
    return { before: views(older.reverse()), after: views(newer) };
  }
  /** The message before each of these in its conversation (for threads): id and sender. */
  previous(ids: readonly string[]) {
    return new MessagesRepository(this.#db).previous(ids);
  }
  /** Marks the conversation read up to its last message; the other side learns it. */
  async markRead(viewerId: string, id: string): Promise<{ last_read_id: string | null }> {
    const deliveries: Delivery[] = [];
    const lastRead = await transaction(this.#db, async (trx) => {
      deliveries.length = 0;
      const repo = new MessagesRepository(trx);
      // Across a block the conversation is closed: no read, so no receipt crosses it.
      const conversation = await this.#readable(trx, viewerId, id);
      const last = conversation.last_message_id;
      if (last && (await repo.markRead(id, viewerId, last))) {
        const data = { conversation_id: id, user_id: viewerId, last_read_id: last };
        const other = otherSide(conversation, viewerId);
        deliveries.push(
          ...(await new StreamLog(trx).append(
            [other, viewerId].map((userId) => ({
              userId,
              type: 'message.read',
              data,
            })),
          )),
        );
      }
      return last;
    });
    await this.#publisher.publish(deliveries);
    return { last_read_id: lastRead };
  }

  /** The conversation if the viewer takes part in it (404 if not) and it is open (403 if not). */
  async #readable(db: Kysely<DB>, viewerId: string, id: string): Promise<ConversationRow> {
    const conversation = await new MessagesRepository(db).findFor(id, viewerId);
    if (!conversation) throw conversationNotFound();
    const other = otherSide(conversation, viewerId);
    if (await new SocialRepository(db).blockedEitherWay(viewerId, other)) throw blocked();
    return conversation;
  }

  /** Blocked users never message each other; otherwise the recipient's `dm_policy` decides. */
  async #assertMayMessage(db: Kysely<DB>, senderId: string, recipientId: string): Promise<void> {
    const social = new SocialRepository(db);
    if (await social.blockedEitherWay(senderId, recipientId)) throw blocked();
    const recipient = await new UsersRepository(db).findById(recipientId);
    if (!recipient) throw conversationNotFound();
    switch (recipient.dm_policy) {
      case 'everyone':
        return;
      case 'followers':
        if (await social.isFollowing(senderId, recipientId)) return;
        throw notAllowed();
      case 'friends':
        if (await social.areFriends(senderId, recipientId)) return;
        throw notAllowed();
      case 'nobody':
        throw notAllowed();
    }
  }
}

const otherSide = (c: ConversationRow, userId: string) =>
  c.user_a === userId ? c.user_b : c.user_a;

function view(
  m: { id: string; conversation_id: string; text: string; created_at: Date },
  sender: UserRef,
): MessageView {
  return {
    id: m.id,
    conversation_id: m.conversation_id,
    sender,
    text: m.text,
    created_at: m.created_at.toISOString(),
  };
}
