import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, IdCursor, Page, pageOf } from '../../http/pagination.ts';
import {
  FriendRequest,
  FriendRequestsQuery,
  presentRequest,
  RequestParams,
  UsernameParams,
} from './social.schemas.ts';

const tags = ['friends'];
const auth = { auth: 'required' as const };

/** Friend requests and friendships. */
export function friendsRoutes(ctx: Context) {
  const { friends } = ctx;
  return async (app: App) => {
    app.post(
      '/users/:username/friend-request',
      {
        config: auth,
        schema: {
          tags,
          summary: 'Send a friend request',
          description:
            'Creates a pending request (201). If that user already asked you, this accepts their request instead (200, status `accepted`). ' +
            '409 `request_pending` for a second request, `already_friends` when you are friends; 403 `blocked`.',
          params: UsernameParams,
          response: { 200: FriendRequest, 201: FriendRequest },
        },
      },
      async (request, reply) => {
        const view = await friends.send(principalOf(request).userId, request.params.username);
        return reply
          .status(view.request.status === 'pending' ? 201 : 200)
          .send(presentRequest(view));
      },
    );

    app.get(
      '/friend-requests',
      {
        config: auth,
        schema: {
          tags,
          summary: 'Your pending friend requests',
          description:
            '`direction=incoming` (sent to you, default) or `outgoing` (sent by you); newest first. Users in a block with you are left out.',
          querystring: FriendRequestsQuery,
          response: { 200: Page(FriendRequest) },
        },
      },
      async (request, reply) => {
        const { direction, limit, cursor } = request.query;
        const before = decodeCursor(IdCursor, cursor)?.id;
        const rows = await friends.listPending(
          principalOf(request).userId,
          direction,
          before,
          limit + 1,
        );
        const page = pageOf(
          request,
          reply,
          rows,
          limit,
          (r) => r,
          (r) => ({ id: r.id }),
        );
        return { ...page, items: (await friends.views(page.items)).map(presentRequest) };
      },
    );

    const answerRoute = (summary: string, more = '') => ({
      config: auth,
      schema: {
        tags,
        summary,
        description:
          '404 unless you sent or received it; 403 `not_recipient` for the sender; 409 `request_not_pending` once answered.' +
          more,
        params: RequestParams,
        response: { 200: FriendRequest },
      },
    });
    app.post(
      '/friend-requests/:id/accept',
      answerRoute(
        'Accept a friend request (recipient only)',
        ' Accepting makes you friends, following each other.',
      ),
      async (request) =>
        presentRequest(await friends.accept(principalOf(request).userId, request.params.id)),
    );
    app.post(
      '/friend-requests/:id/decline',
      answerRoute('Decline a friend request (recipient only)'),
      async (request) =>
        presentRequest(await friends.decline(principalOf(request).userId, request.params.id)),
    );

    app.delete(
      '/friend-requests/:id',
      {
        config: auth,
        schema: {
          tags,
          summary: 'Cancel a friend request you sent',
          description:
            '403 `not_sender` for the recipient (decline instead); 409 `request_not_pending` once answered.',
          params: RequestParams,
          response: { 204: Type.Null({ description: 'Cancelled' }) },
        },
      },
      async (request, reply) => {
        await friends.cancel(principalOf(request).userId, request.params.id);
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/friends/:username',
      {
        config: auth,
        schema: {
          tags,
          summary: 'Unfriend',
          description:
            'Ends the friendship and the follows that came with it. 404 `not_friends` when you were not friends.',
          params: UsernameParams,
          response: { 204: Type.Null({ description: 'No longer friends' }) },
        },
      },
      async (request, reply) => {
        await friends.unfriend(principalOf(request).userId, request.params.username);
        return reply.status(204).send(null);
      },
    );
  };
}
