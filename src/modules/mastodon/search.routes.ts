import type { FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { AppError, NotFoundError, ValidationError } from '../../errors.ts';
import type { App } from '../../http/types.ts';
import { tagName } from '../../text.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import { presentAccount } from './accounts.presenter.ts';
import { isId, listParam, truthy, viewerOf } from './lookup.ts';
import { clamp, originOf } from './paging.ts';
import { StatusPresenter } from './statuses.presenter.ts';
import { presentTags } from './tags.presenter.ts';

type Query = Record<string, unknown>;

/** Results skipped by `offset` are read and dropped: past this, kith's search answers nothing. */
export const OFFSET_MAX = 200;

/** `name`, `@name` or `@name@host` (this server): the username; undefined for another host. */
function usernameOf(q: string, request: FastifyRequest): string | undefined {
  const [name, host, ...rest] = q.replace(/^@/, '').split('@');
  if (rest.length > 0 || (host !== undefined && host !== request.host && host !== request.hostname))
    return undefined;
  return name;
}

/**
 * Accounts matching `q` by kith's people search (username or display name, typos tolerated;
 * nobody in a block with the viewer), the exact username first; `following`: only people the
 * viewer follows. Shared by `/v1/accounts/search` and `/v2/search`.
 */
export async function findAccounts(
  ctx: Context,
  request: FastifyRequest,
  q: string,
  opts: { limit: number; offset: number; following: boolean },
) {
  const viewer = viewerOf(request);
  const name = usernameOf(q.trim(), request);
  if (!name || opts.offset > OFFSET_MAX) return [];
  const found = await ctx.search.search.accounts(
    viewer,
    name,
    undefined,
    opts.offset + opts.limit + 1,
  );
  // No such user, or no username at all (a display name searched): no exact match.
  const exact = await ctx.users.resolveVisible(name, viewer).catch((err: unknown) => {
    if (err instanceof AppError && err.status < 500) return undefined;
    throw err;
  });
  let ids = [...new Set([...(exact ? [exact.id] : []), ...found.map((u) => u.id)])];
  if (opts.following && viewer !== null) {
    const { following } = await ctx.relations.of(viewer);
    ids = ids.filter((id) => following.has(id));
  }
  ids = ids.slice(opts.offset, opts.offset + opts.limit);
  const rows = new Map(
    (await new UsersRepository(ctx.database.db).findManyByIds(ids)).map((u) => [u.id, u]),
  );
  return ids.flatMap((id) => {
    const user = rows.get(id);
    return user ? [presentAccount(originOf(request), user)] : [];
  });
}

/** A status of this server named by its URL (`/@name/<id>`, `/users/name/statuses/<id>`). */
function statusIdOf(q: string, request: FastifyRequest): string | undefined {
  let url: URL;
  try {
    url = new URL(q);
  } catch {
    return undefined;
  }
  if (url.host !== request.host && url.hostname !== request.hostname) return undefined;
  const match = /^\/(?:@[^/]+|users\/[^/]+\/statuses)\/([^/]+)\/?$/.exec(url.pathname);
  return match && isId(match[1]) ? match[1].toLowerCase() : undefined;
}

/**
 * Mastodon's search (`/api/v2/search`) over kith's: posts by full text (kith's ranking, its
 * visibility, block and mute rules), people, tags by prefix. `offset` pages by reading and
 * dropping (up to OFFSET_MAX); `resolve` is ignored (no federation), but a URL of a status of
 * this server finds that status when the viewer may see it.
 */
export function mastodonSearchRoutes(ctx: Context) {
  const { search } = ctx.search;
  return async (app: App) => {
    app.get(
      '/v2/search',
      { config: { auth: 'optional', scope: 'read:search' } },
      async (request) => {
        const query = request.query as Query;
        const q = (listParam(query.q)[0] ?? '').trim();
        if (q === '')
          throw new ValidationError([
            { path: '/q', code: 'required', message: 'q is missing or empty' },
          ]);
        const type = listParam(query.type)[0];
        const wants = (kind: string) => type === undefined || type === '' || type === kind;
        const limit = clamp(query.limit, 20, 1, 40);
        const offset = clamp(query.offset, 0, 0, Number.MAX_SAFE_INTEGER);
        const viewer = viewerOf(request);
        const origin = originOf(request);
        const result = {
          accounts: [] as unknown[],
          statuses: [] as unknown[],
          hashtags: [] as unknown[],
        };

        const linked = statusIdOf(q, request);
        if (linked !== undefined) {
          if (wants('statuses')) {
            const post = await ctx.posts.get(viewer, linked).catch((err: unknown) => {
              if (err instanceof NotFoundError) return undefined;
              throw err;
            });
            if (post)
              result.statuses = await new StatusPresenter(ctx.users, origin).present([post]);
          }
          return result;
        }
        if (wants('accounts'))
          result.accounts = await findAccounts(ctx, request, q, {
            limit,
            offset,
            following: truthy(query.following),
          });
        if (wants('statuses') && offset <= OFFSET_MAX) {
          const accountId = listParam(query.account_id)[0];
          const maxId = listParam(query.max_id)[0]?.toLowerCase();
          const minId = listParam(query.min_id)[0]?.toLowerCase();
          const keep = (p: HydratedPost) =>
            (accountId === undefined || p.author_id === accountId.toLowerCase()) &&
            (maxId === undefined || p.id < maxId) &&
            (minId === undefined || p.id > minId);
          const posts = (await search.posts(viewer, q, undefined, offset + limit)).filter(keep);
          result.statuses = await new StatusPresenter(ctx.users, origin).present(
            posts.slice(offset, offset + limit),
          );
        }
        const tag = tagName(q);
        if (wants('hashtags') && tag !== undefined && offset <= OFFSET_MAX) {
          const names = (await search.tags(viewer, tag, undefined, offset + limit)).slice(offset);
          result.hashtags = await presentTags(ctx, viewer, origin, names);
        }
        return result;
      },
    );
  };
}
