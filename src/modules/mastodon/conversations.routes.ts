import type { Context } from '../../app/context.ts';
import { AppError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { hiddenAsNotFound, presentConversations } from './direct.ts';
import { MASTODON_FLAVOUR } from './flavour.ts';
import { isId, recordNotFound } from './lookup.ts';
import { originOf, pageParams, readPage, setLinks } from './paging.ts';

type IdParams = { id: string };
const read = { auth: 'required' as const, scope: 'read:statuses' };
const write = { auth: 'required' as const, scope: 'write:conversations' };

/**
 * Conversations: kith's one-to-one conversations, newest activity first. `GET` and
 * `POST …/:id/read` share their paths with kith's own routes: the token decides (flavour.ts).
 */
export function mastodonConversationRoutes(ctx: Context) {
  const { messages } = ctx;
  return async (app: App) => {
    /** The viewer's conversation (a block closes it: then, as for others, 404). */
    const conversation = (userId: string, id: string) => {
      if (!isId(id)) throw recordNotFound();
      return messages.get(userId, id.toLowerCase()).catch(hiddenAsNotFound);
    };

    app.get(
      '/v1/conversations',
      { config: read, constraints: MASTODON_FLAVOUR },
      async (request, reply) => {
        const { userId } = principalOf(request);
        const params = pageParams(request.query, 'conversations');
        // Keyed by the position kith lists them by: the last message's id (or the
        // conversation's own, before any message), time-ordered like every kith id.
        const page = await readPage(params, async (before, limit) =>
          (await messages.list(userId, before, limit)).map((c) => ({ id: c.position, c })),
        );
        setLinks(request, reply, page, params);
        return presentConversations(
          ctx,
          originOf(request),
          userId,
          page.map((p) => p.c),
        );
      },
    );

    app.post<{ Params: IdParams }>(
      '/v1/conversations/:id/read',
      { config: write, constraints: MASTODON_FLAVOUR },
      async (request) => {
        const { userId } = principalOf(request);
        const { id } = await conversation(userId, request.params.id);
        await messages.markRead(userId, id).catch(hiddenAsNotFound);
        const [shown] = await presentConversations(ctx, originOf(request), userId, [
          await conversation(userId, id),
        ]);
        return shown;
      },
    );

    // Mastodon hides a conversation from the list; kith has no such state: refused, not faked.
    app.delete<{ Params: IdParams }>(
      '/v1/conversations/:id',
      { config: write },
      async (request) => {
        await conversation(principalOf(request).userId, request.params.id);
        throw new AppError(
          422,
          'unsupported',
          'kith cannot hide a conversation: it stays in your list',
        );
      },
    );
  };
}
