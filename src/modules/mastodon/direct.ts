/**
 * kith's direct messages as Mastodon `direct` statuses (docs/MASTODON.md, decision D6): a
 * message is a Status whose `in_reply_to_id` is the message before it in its conversation, so a
 * conversation reads as a thread. Every rule (who may write to whom, blocks, limits,
 * idempotency) is the messages service's; this file only translates.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { AppError, ForbiddenError, NotFoundError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import { idempotencyKeyOf, markReplay } from '../../http/idempotency.ts';
import { createLimiter } from '../../http/rate-limit.ts';
import type { App } from '../../http/types.ts';
import type { UserRow } from '../../infra/db/schema.ts';
import { mentionedUsernames } from '../../text.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { ConversationView, MessageView } from '../messages/messages.service.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import { accountUrl, presentAccount } from './accounts.presenter.ts';
import { isId, recordNotFound, viewerOf } from './lookup.ts';
import { originOf } from './paging.ts';
import { StatusPresenter } from './statuses.presenter.ts';

/** How much of a conversation `/context` shows around a message (as Mastodon's threads). */
export const ANCESTORS = 40;
export const DESCENDANTS = 60;

type Ctx = Pick<Context, 'database' | 'messages' | 'users'>;
type Body = Record<string, unknown>;

/** A message and the other member of its conversation, as the viewer sees it. */
export interface MessageItem {
  message: MessageView;
  /** The conversation's member who is not the viewer. */
  other: string;
}

/** Not found, or closed by a block: for a status, both are Mastodon's 404. */
export const hiddenAsNotFound = (err: unknown): never => {
  if (err instanceof NotFoundError || (err instanceof ForbiddenError && err.code === 'blocked'))
    throw recordNotFound();
  throw err;
};

/** A message as StatusPresenter reads a post (text, author, times; no likes, comments, media). */
const asPost = (m: MessageView) =>
  ({
    id: m.id,
    author_id: m.sender.id,
    author_username: m.sender.username,
    text: m.text,
    created_at: new Date(m.created_at),
    edited_at: null,
    visibility: 'public',
    media: [],
    like_count: 0,
    comment_count: 0,
    liked: false,
  }) as unknown as HydratedPost;

const mention = (origin: string, u: UserRow) => ({
  id: u.id,
  username: u.username,
  acct: u.username,
  url: accountUrl(origin, u.username),
});

/**
 * Messages as `direct` Statuses, read by `viewerId` (a member): `mentions` is the recipient,
 * `in_reply_to_id` the message before it in the conversation.
 */
export async function presentMessages(
  ctx: Ctx,
  origin: string,
  viewerId: string,
  items: readonly MessageItem[],
) {
  if (items.length === 0) return [];
  const ids = items.map((i) => i.message.id);
  const [previous, members, statuses] = await Promise.all([
    ctx.messages.previous(ids),
    new UsersRepository(ctx.database.db).findManyByIds([viewerId, ...items.map((i) => i.other)]),
    new StatusPresenter(ctx.users, origin).present(items.map((i) => asPost(i.message))),
  ]);
  const byId = new Map(members.map((u) => [u.id, u]));
  return items.map(({ message, other }, i) => {
    const recipient = byId.get(message.sender.id === viewerId ? other : viewerId);
    const before = previous.get(message.id);
    return {
      ...statuses[i]!,
      visibility: 'direct' as const,
      mentions: recipient ? [mention(origin, recipient)] : [],
      in_reply_to_id: before?.id ?? null,
      in_reply_to_account_id: before?.sender_id ?? null,
      kith: { kind: 'message', conversation_id: message.conversation_id },
    };
  });
}

/** kith conversations as Mastodon Conversations (`accounts` = the other member). */
export async function presentConversations(
  ctx: Ctx,
  origin: string,
  viewerId: string,
  conversations: readonly ConversationView[],
) {
  const withLast = conversations.flatMap((c) =>
    c.last_message ? [{ message: c.last_message, other: c.with.id }] : [],
  );
  const [others, statuses] = await Promise.all([
    new UsersRepository(ctx.database.db).findManyByIds(conversations.map((c) => c.with.id)),
    presentMessages(ctx, origin, viewerId, withLast),
  ]);
  const accounts = new Map(others.map((u) => [u.id, presentAccount(origin, u)]));
  const lastOf = new Map(statuses.map((s) => [s.kith.conversation_id, s]));
  return conversations.map((c) => ({
    id: c.id,
    unread: c.unread_count > 0,
    accounts: accounts.has(c.with.id) ? [accounts.get(c.with.id)!] : [],
    last_status: lastOf.get(c.id) ?? null,
  }));
}

/** Fields a direct status cannot carry in kith: refused, never dropped. */
const UNSUPPORTED = ['media_ids', 'poll', 'spoiler_text', 'scheduled_at', 'quoted_status_id'];
function refuseUnsupported(body: Body): void {
  for (const field of UNSUPPORTED) {
    const empty = [body[field]].flat().every((v) => v === undefined || v === null || v === '');
    if (!empty)
      throw new AppError(422, 'unsupported', `${field} is not supported on direct statuses`);
  }
}

const oneToOne = () =>
  new AppError(
    422,
    'one_to_one_only',
    'kith messages are one-to-one only: mention exactly one other account',
  );

const present = (value: unknown) => value !== undefined && value !== null && value !== '';

/** Direct statuses: write one, read one and its thread, refuse what kith cannot do to one. */
export function directStatuses(ctx: Context, app: App) {
  const { messages } = ctx;
  // Per sender, as kith's own message route (with Redis, one budget for both).
  const perSender = createLimiter(app, {
    name: 'messages',
    max: ctx.config.messageRateLimit,
    windowSeconds: ctx.config.messageRateLimitWindow,
    key: (request) => principalOf(request).userId,
  });

  /** The existing accounts the text mentions, the writer left out. */
  const mentioned = async (userId: string, text: string) =>
    (await new UsersRepository(ctx.database.db).findManyByUsernames(mentionedUsernames(text)))
      .filter((u) => u.id !== userId)
      .map((u) => u.id);

  /**
   * Sends `status` as a message: to the conversation of the message it replies to (its text may
   * mention only the other member), or to the one other account it mentions.
   */
  async function create(request: FastifyRequest, reply: FastifyReply, body: Body) {
    await perSender(request, reply);
    refuseUnsupported(body);
    const { userId } = principalOf(request);
    const text = typeof body.status === 'string' ? body.status : '';
    const idem = idempotencyKeyOf(request);
    const others = await mentioned(userId, text);
    let sent;
    let other: string;
    if (present(body.in_reply_to_id)) {
      const parent = await find(userId, body.in_reply_to_id);
      if (others.some((id) => id !== parent.other)) throw oneToOne();
      other = parent.other;
      sent = await messages.send(userId, parent.message.conversation_id, text, idem);
    } else {
      if (others.length !== 1) throw oneToOne();
      other = others[0]!;
      const [to] = await new UsersRepository(ctx.database.db).findManyByIds([other]);
      sent = await messages.sendTo(userId, to!.username, text, idem);
    }
    markReplay(reply, sent.replayed);
    const [status] = await presentMessages(ctx, originOf(request), userId, [
      { message: sent.message, other },
    ]);
    return status;
  }

  /** A message the viewer may read (a member, no block between them), or 404. */
  async function find(viewerId: string, id: unknown): Promise<MessageItem> {
    if (!isId(id)) throw recordNotFound();
    return messages.message(viewerId, id.toLowerCase()).catch(hiddenAsNotFound);
  }

  /**
   * `work` on a post, or, when no post has that id, `onMessage` on the message with it (for a
   * signed-in member of its conversation): posts are looked up first, messages after.
   */
  async function orMessage<T, U>(
    request: FastifyRequest<{ Params: { id: string } }>,
    work: () => Promise<T>,
    onMessage: (item: MessageItem) => Promise<U> | U,
  ): Promise<T | U> {
    try {
      return await work();
    } catch (err) {
      const viewer = viewerOf(request);
      if (!(err instanceof NotFoundError) || viewer === null) throw err;
      const item = await find(viewer, request.params.id).catch(() => undefined);
      if (!item) throw err;
      return onMessage(item);
    }
  }

  const status = async (request: FastifyRequest, item: MessageItem) =>
    (await presentMessages(ctx, originOf(request), viewerOf(request)!, [item]))[0]!;

  /** The conversation as a thread: up to ANCESTORS before, DESCENDANTS after, oldest first. */
  async function context(request: FastifyRequest, item: MessageItem) {
    const viewer = viewerOf(request)!;
    const { before, after } = await messages
      .around(viewer, item.message.id, ANCESTORS, DESCENDANTS)
      .catch(hiddenAsNotFound);
    const all = await presentMessages(
      ctx,
      originOf(request),
      viewer,
      [...before, ...after].map((message) => ({ message, other: item.other })),
    );
    return { ancestors: all.slice(0, before.length), descendants: all.slice(before.length) };
  }

  /** What kith has no operation for on a message (favourite, edit, delete). */
  const refuse = (action: string) => () => {
    throw new AppError(422, 'unsupported', `kith messages cannot be ${action}`);
  };

  return { create, orMessage, status, context, refuse };
}

/**
 * kith's `message` stream event as Mastodon's `conversation` on `direct`: the conversation as
 * the viewer sees it now (nothing once they may no longer read it). Read receipts send nothing.
 */
export async function conversationEvents(
  ctx: Ctx,
  viewerId: string,
  origin: string,
  data: { conversation_id?: unknown },
) {
  const id = String(data.conversation_id);
  const found = await ctx.messages.get(viewerId, id).catch((err: unknown) => {
    if (err instanceof NotFoundError || err instanceof ForbiddenError) return undefined;
    throw err;
  });
  if (!found) return [];
  const [conversation] = await presentConversations(ctx, origin, viewerId, [found]);
  return [
    {
      event: 'conversation' as const,
      payload: JSON.stringify(conversation),
      streams: ['direct' as const],
    },
  ];
}
