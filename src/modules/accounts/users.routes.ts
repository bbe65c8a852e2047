import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, Page, pageOf } from '../../http/pagination.ts';
import {
  ChangePasswordBody,
  Me,
  NO_CONTROLS,
  presentMe,
  presentUser,
  PublicUser,
  SearchUsersQuery,
  UsernameParams,
} from './accounts.schemas.ts';
import { profileRoutes } from './profile.routes.ts';

const UsersCursor = Type.Object({ u: Type.String({ pattern: NO_CONTROLS }) });

/** The caller's own account (`/me`) and public profiles (`/users`). */
export function usersRoutes(ctx: Context) {
  const origin = ctx.config.publicUrl;
  return async (app: App) => {
    app.get(
      '/me',
      {
        config: { auth: 'required' },
        schema: { tags: ['me'], summary: 'Your account', response: { 200: Me } },
      },
      async (request) => presentMe(await ctx.users.getById(principalOf(request).userId), origin),
    );

    await app.register(profileRoutes(ctx));

    app.post(
      '/me/password',
      {
        config: { auth: 'required' },
        schema: {
          tags: ['me'],
          summary: 'Change your password',
          description: 'Ends every other session (their refresh tokens are revoked).',
          body: ChangePasswordBody,
          response: { 204: Type.Null({ description: 'Password changed' }) },
        },
      },
      async (request, reply) => {
        const { userId, sessionId } = principalOf(request);
        await ctx.users.changePassword(
          userId,
          sessionId,
          request.body.current_password,
          request.body.new_password,
        );
        return reply.status(204).send(null);
      },
    );

    app.get(
      '/users/:username',
      {
        config: { auth: 'optional' },
        schema: {
          tags: ['users'],
          summary: 'A public profile',
          description:
            'Counters are as you may list them: `post_count` counts the posts you may see; ' +
            'follower, following and friend counts leave out users in a block with you. ' +
            'A user in a block with you, either way, is 404 `user_not_found`, exactly as a user who does not exist.',
          params: UsernameParams,
          response: { 200: PublicUser },
        },
      },
      async (request) =>
        presentUser(
          await ctx.users.getProfile(request.params.username, request.principal?.userId ?? null),
          origin,
        ),
    );

    app.get(
      '/users',
      {
        config: { auth: 'optional' },
        schema: {
          tags: ['users'],
          summary: 'Search users by username prefix',
          description: 'Users in a block with you, either way, are left out.',
          querystring: SearchUsersQuery,
          response: { 200: Page(PublicUser) },
        },
      },
      async (request, reply) => {
        const { q, limit, cursor } = request.query;
        const after = decodeCursor(UsersCursor, cursor)?.u;
        const viewer = request.principal?.userId ?? null;
        const rows = await ctx.users.search(viewer, q.trim(), after, limit + 1);
        return pageOf(
          request,
          reply,
          rows,
          limit,
          (u) => presentUser(u, origin),
          (u) => ({ u: u.username }),
        );
      },
    );
  };
}
