import { Type } from 'typebox';
import type { Context } from '../../context.ts';
import { AppError } from '../../errors.ts';
import type { App } from '../../http/app.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, Page, PageQuery, pageOf } from '../../http/pagination.ts';
import { presentSummary } from '../accounts/accounts.schemas.ts';
import type { GraphChange } from './social.service.ts';
import {
  BlockState,
  FollowState,
  ListedUser,
  MuteState,
  Relationship,
  RelationshipsQuery,
  Suggestion,
  UsernameParams,
} from './social.schemas.ts';

const tags = ['social'];
const auth = { auth: 'required' as const };
const TimeCursor = Type.Object({ t: Type.String(), id: Type.String() });
const SuggestionCursor = Type.Object({ m: Type.Integer(), u: Type.String() });
const MAX_RELATIONSHIPS = 100;

const followState = (c: GraphChange, following: boolean) => ({
  user: presentSummary(c.user),
  following,
  changed: c.changed,
});
const blockState = (c: GraphChange, blocking: boolean) => ({
  user: presentSummary(c.user),
  blocking,
  changed: c.changed,
});
const muteState = (c: GraphChange, muting: boolean) => ({
  user: presentSummary(c.user),
  muting,
  changed: c.changed,
});

/** Follows, blocks, mutes, relationships, graph lists and suggestions. */
export function socialRoutes(ctx: Context) {
  const { social } = ctx;
  return async (app: App) => {
    const edge = (path: string, summary: string, description: string) => ({
      config: auth,
      schema: { tags, summary, description, params: UsernameParams },
      path,
    });

    const follow = edge(
      '/users/:username/follow',
      'Follow a user',
      'Idempotent: `changed` is false when you already followed.',
    );
    app.post(
      follow.path,
      { ...follow, schema: { ...follow.schema, response: { 200: FollowState } } },
      async (request) =>
        followState(
          await social.follow(principalOf(request).userId, request.params.username),
          true,
        ),
    );
    app.delete(
      follow.path,
      {
        ...follow,
        schema: {
          ...follow.schema,
          summary: 'Unfollow a user',
          description:
            'Idempotent. Friends follow each other: unfollowing a friend is 409 `friends_follow_each_other`.',
          response: { 200: FollowState },
        },
      },
      async (request) =>
        followState(
          await social.unfollow(principalOf(request).userId, request.params.username),
          false,
        ),
    );

    const block = edge(
      '/users/:username/block',
      'Block a user',
      'Removes follows both ways, the friendship and pending friend requests; from then on neither side sees the other.',
    );
    app.post(
      block.path,
      { ...block, schema: { ...block.schema, response: { 200: BlockState } } },
      async (request) =>
        blockState(await social.block(principalOf(request).userId, request.params.username), true),
    );
    app.delete(
      block.path,
      {
        ...block,
        schema: {
          ...block.schema,
          summary: 'Unblock a user',
          description: 'Idempotent.',
          response: { 200: BlockState },
        },
      },
      async (request) =>
        blockState(
          await social.unblock(principalOf(request).userId, request.params.username),
          false,
        ),
    );

    const mute = edge(
      '/users/:username/mute',
      'Mute a user',
      'Hides the user from your feeds and notifications only.',
    );
    app.post(
      mute.path,
      { ...mute, schema: { ...mute.schema, response: { 200: MuteState } } },
      async (request) =>
        muteState(await social.mute(principalOf(request).userId, request.params.username), true),
    );
    app.delete(
      mute.path,
      {
        ...mute,
        schema: {
          ...mute.schema,
          summary: 'Unmute a user',
          description: 'Idempotent.',
          response: { 200: MuteState },
        },
      },
      async (request) =>
        muteState(await social.unmute(principalOf(request).userId, request.params.username), false),
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

    for (const kind of ['followers', 'following', 'friends'] as const) {
      app.get(
        `/users/:username/${kind}`,
        {
          schema: {
            tags,
            summary: `A user's ${kind}`,
            description: 'Newest first; `since` is when the relationship began.',
            params: UsernameParams,
            querystring: Type.Object(PageQuery),
            response: { 200: Page(ListedUser) },
          },
        },
        async (request, reply) => {
          const { limit, cursor } = request.query;
          const rows = await social.list(
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
      );
    }

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
