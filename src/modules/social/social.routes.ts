import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import { AppError } from '../../errors.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, Page, pageOf, PageQuery, TimeCursor } from '../../http/pagination.ts';
import { NO_CONTROLS, presentSummary, UserSummary } from '../accounts/accounts.schemas.ts';
import {
  ListedUser,
  Relationship,
  RelationshipsQuery,
  Suggestion,
  UsernameParams,
} from './social.schemas.ts';

const tags = ['social'];
const auth = { auth: 'required' as const };
// Bounded like the SQL integer it is compared with: a forged cursor is a 400, not a 500.
const SuggestionCursor = Type.Object({
  m: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }),
  u: Type.String({ pattern: NO_CONTROLS }),
});
const MAX_RELATIONSHIPS = 100;

/** The answer to a follow, block or mute change. */
const EdgeState = (flag: 'following' | 'blocking' | 'muting') =>
  Type.Object({
    user: UserSummary,
    [flag]: Type.Boolean(),
    changed: Type.Boolean({ description: 'False when the request repeated the current state.' }),
  });

/** Follows, blocks, mutes, relationships, graph lists and suggestions. */
export function socialRoutes(ctx: Context) {
  const { social } = ctx;
  return async (app: App) => {
    // Follow, block and mute share one shape: POST sets the edge, DELETE removes it, both
    // idempotent; `changed` is false when the request repeated the current state.
    type Change = (viewerId: string, username: string) => ReturnType<typeof social.follow>;
    const edge = (
      flag: 'following' | 'blocking' | 'muting',
      value: boolean,
      change: Change,
      [summary, description]: [string, string],
    ) => ({
      options: {
        config: auth,
        schema: {
          tags,
          summary,
          description,
          params: UsernameParams,
          response: { 200: EdgeState(flag) },
        },
      },
      handler: async (request: FastifyRequest<{ Params: { username: string } }>) => {
        const { user, changed } = await change(
          principalOf(request).userId,
          request.params.username,
        );
        return { user: presentSummary(user), [flag]: value, changed };
      },
    });
    const route = (e: ReturnType<typeof edge>) => [e.options, e.handler] as const;

    app.post(
      '/users/:username/follow',
      ...route(
        edge('following', true, (v, u) => social.follow(v, u), [
          'Follow a user',
          'Idempotent: `changed` is false when you already followed. 403 `blocked`.',
        ]),
      ),
    );
    app.delete(
      '/users/:username/follow',
      ...route(
        edge('following', false, (v, u) => social.unfollow(v, u), [
          'Unfollow a user',
          'Idempotent. Friends follow each other: unfollowing a friend is 409 `friends_follow_each_other`.',
        ]),
      ),
    );
    app.post(
      '/users/:username/block',
      ...route(
        edge('blocking', true, (v, u) => social.block(v, u), [
          'Block a user',
          'Removes follows both ways, the friendship and pending friend requests; from then on neither side sees the other.',
        ]),
      ),
    );
    app.delete(
      '/users/:username/block',
      ...route(
        edge('blocking', false, (v, u) => social.unblock(v, u), [
          'Unblock a user',
          'Idempotent. Nothing that the block removed comes back.',
        ]),
      ),
    );
    app.post(
      '/users/:username/mute',
      ...route(
        edge('muting', true, (v, u) => social.mute(v, u), [
          'Mute a user',
          'Hides the user from your feeds and notifications only.',
        ]),
      ),
    );
    app.delete(
      '/users/:username/mute',
      ...route(
        edge('muting', false, (v, u) => social.unmute(v, u), ['Unmute a user', 'Idempotent.']),
      ),
    );

    app.get(
      '/relationships',
      {
        config: auth,
        schema: {
          tags,
          summary: 'How you stand towards some users',
          description: 'Unknown usernames are left out of the answer.',
          querystring: RelationshipsQuery,
          response: { 200: Type.Object({ items: Type.Array(Relationship) }) },
        },
      },
      async (request) => {
        const names = request.query.users
          .split(',')
          .map((u) => u.trim())
          .filter(Boolean);
        if (names.length > MAX_RELATIONSHIPS) {
          throw new AppError(400, 'validation_failed', 'Too many users.', {
            errors: [
              {
                path: '/users',
                in: 'query',
                code: 'too_long',
                message: `at most ${MAX_RELATIONSHIPS} usernames`,
              },
            ],
          });
        }
        const items = await social.relationships(principalOf(request).userId, names);
        return { items: items.map(({ user_id: _id, ...rel }) => rel) };
      },
    );

    /** A user's followers, following or friends: newest edge first. */
    const graphList = (kind: 'followers' | 'following' | 'friends') =>
      [
        {
          config: { auth: 'optional' },
          schema: {
            tags,
            summary: `A user's ${kind}`,
            description:
              'Newest first; `since` is when the relationship began. Users in a block with you, either way, are left out ' +
              `(the profile's \`${kind === 'friends' ? 'friend' : kind}_count\` leaves them out too); ` +
              'the list of a user in a block with you is 404 `user_not_found`.',
            params: UsernameParams,
            querystring: Type.Object(PageQuery),
            response: { 200: Page(ListedUser) },
          },
        },
        async (
          request: FastifyRequest<{
            Params: { username: string };
            Querystring: { limit: number; cursor?: string };
          }>,
          reply: FastifyReply,
        ) => {
          const { limit, cursor } = request.query;
          const rows = await social.list(
            request.principal?.userId ?? null,
            kind,
            request.params.username,
            decodeCursor(TimeCursor, cursor),
            limit + 1,
          );
          return pageOf(
            request,
            reply,
            rows,
            limit,
            (u) => ({ ...presentSummary(u), since: u.edge_at.toISOString() }),
            (u) => ({ t: u.edge_at.toISOString(), id: u.id }),
          );
        },
      ] as const;
    app.get('/users/:username/followers', ...graphList('followers'));
    app.get('/users/:username/following', ...graphList('following'));
    app.get('/users/:username/friends', ...graphList('friends'));

    app.get(
      '/me/suggestions',
      {
        config: auth,
        schema: {
          tags,
          summary: 'People you may know',
          description:
            'Friends of your friends, most mutual friends first; never current friends or blocked users.',
          querystring: Type.Object(PageQuery),
          response: { 200: Page(Suggestion) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const rows = await social.suggestions(
          principalOf(request).userId,
          decodeCursor(SuggestionCursor, cursor),
          limit + 1,
        );
        return pageOf(
          request,
          reply,
          rows,
          limit,
          (u) => ({ user: presentSummary(u), mutual_friends: u.mutual }),
          (u) => ({ m: u.mutual, u: u.username }),
        );
      },
    );
  };
}
