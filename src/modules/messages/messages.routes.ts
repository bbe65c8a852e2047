import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { createLimiter } from '../../http/rate-limit.ts';
import { normalizeUsernameField } from '../../http/usernames.ts';
import { IdempotencyHeaders, idempotencyKeyOf, markReplay } from '../../http/idempotency.ts';
import { decodeCursor, IdCursor, Page, pageOf, PageQuery } from '../../http/pagination.ts';
import { Username } from '../accounts/accounts.schemas.ts';
import { MESSAGE_MAX, type ConversationView } from './messages.service.ts';
import { Conversation, ConversationParams, Message } from './messages.schemas.ts';

const tags = ['messages'];

const hidden = '404 `conversation_not_found` unless you take part in it.';

/** What a block does to a conversation (either way), for the descriptions. */
const closed =
  'While you and the other side are in a block (either way), 403 `blocked`: the conversation is closed to both of you until the block is lifted, its history kept.';
const present = ({ position: _position, ...c }: ConversationView) => c;

/** Direct messages: one-to-one conversations. */
export function messagesRoutes(ctx: Context) {
  const { messages, config } = ctx;
  return async (app: App) => {
    // Per sender, over all conversations: a person types far slower; a script flooding inboxes does not.
    const perSender = createLimiter(app, {
      name: 'messages',
      max: config.messageRateLimit,
      windowSeconds: config.messageRateLimitWindow,
      key: (request) => principalOf(request).userId,
    });

    app.post(
      '/conversations',
      {
        config: { auth: 'required' },
        preValidation: normalizeUsernameField('username'),
        schema: {
          tags,
          summary: 'Start (or get) your conversation with a user',
          description:
            '201 when created, 200 when it existed. 403 `blocked` when you and they are in a block (either way), even if you talked before; `messages_not_allowed` when their `dm_policy` excludes you.',
          body: Type.Object({ username: Username }, { additionalProperties: false }),
          response: { 200: Conversation, 201: Conversation },
        },
      },
      async (request, reply) => {
        const { conversation, created } = await messages.open(
          principalOf(request).userId,
          request.body.username,
        );
        return reply.status(created ? 201 : 200).send(present(conversation));
      },
    );

    app.get(
      '/conversations',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Your conversations',
          description:
            'Most recent activity first, each with its last message and unread count. Conversations with someone in a block with you (either way) are left out while the block lasts.',
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Conversation) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const rows = await messages.list(
          principalOf(request).userId,
          decodeCursor(IdCursor, cursor)?.id,
          limit + 1,
        );
        return pageOf(request, reply, rows, limit, present, (c) => ({ id: c.position }));
      },
    );

    app.get(
      '/conversations/:id',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'A conversation',
          description: `${hidden} ${closed}`,
          params: ConversationParams,
          response: { 200: Conversation },
        },
      },
      async (request) =>
        present(await messages.get(principalOf(request).userId, request.params.id)),
    );

    app.get(
      '/conversations/:id/messages',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Messages of a conversation',
          description: `Newest first. ${hidden} ${closed}`,
          params: ConversationParams,
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Message) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const rows = await messages.messages(
          principalOf(request).userId,
          request.params.id,
          decodeCursor(IdCursor, cursor)?.id,
          limit + 1,
        );
        return pageOf(
          request,
          reply,
          rows,
          limit,
          (m) => m,
          (m) => ({ id: m.id }),
        );
      },
    );

    app.post(
      '/conversations/:id/messages',
      {
        config: { auth: 'required' },
        preHandler: perSender,
        schema: {
          tags,
          summary: 'Send a message',
          description: `1-${MESSAGE_MAX} characters. Reaches every open stream of the recipient and your own. Takes \`Idempotency-Key\`. 403 \`messages_not_allowed\` when their \`dm_policy\` excludes you. ${hidden} ${closed} At most RATE_LIMIT_MESSAGES per RATE_LIMIT_MESSAGES_WINDOW per sender, then 429 \`rate_limited\` with \`Retry-After\`.`,
          params: ConversationParams,
          headers: IdempotencyHeaders,
          body: Type.Object(
            { text: Type.String({ maxLength: MESSAGE_MAX * 2 }) },
            { additionalProperties: false },
          ),
          response: { 201: Message },
        },
      },
      async (request, reply) => {
        const { message, replayed } = await messages.send(
          principalOf(request).userId,
          request.params.id,
          request.body.text,
          idempotencyKeyOf(request),
        );
        markReplay(reply, replayed);
        return reply.status(201).send(message);
      },
    );

    app.post(
      '/conversations/:id/read',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Mark a conversation read',
          description: `Up to its last message; the other side gets a \`message.read\` event. ${hidden} ${closed}`,
          params: ConversationParams,
          response: {
            200: Type.Object({ last_read_id: Type.Union([Type.String(), Type.Null()]) }),
          },
        },
      },
      async (request) => messages.markRead(principalOf(request).userId, request.params.id),
    );
  };
}
