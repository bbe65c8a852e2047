import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { AppError } from '../../errors.ts';
import { presentAccount, presentCredentialAccount } from './accounts.presenter.ts';
import { LIMITS, originOf, pageParams, readPage, setLinks } from './paging.ts';
import { listParam, recordNotFound, viewerOf, visibleAccount } from './lookup.ts';
import { StatusPresenter } from './statuses.presenter.ts';
import { relationshipsOf } from './relationships.ts';

type Query = Record<string, unknown>;
type IdParams = { id: string };

const read = (scope: string) => ({ auth: 'required' as const, scope: `read:${scope}` });
const optional = { auth: 'optional' as const };

/** A field kith has no equivalent for, sent with a value that would be lost: 422, not ignored. */
function refuseUnsupported(body: Record<string, unknown>): void {
  if (body.locked === true || body.locked === 'true' || body.locked === '1')
    throw new AppError(
      422,
      'unsupported',
      'locked accounts are not supported: kith follows need no approval',
    );
  if (body.fields_attributes !== undefined)
    throw new AppError(422, 'unsupported', 'profile fields are not supported');
}

/** Accounts: the signed-in user, look-ups, profiles and their statuses. */
export function mastodonAccountRoutes(ctx: Context) {
  const { db } = ctx.database;
  return async (app: App) => {
    const credentials = async (userId: string, origin: string) => {
      const user = await ctx.users.getById(userId);
      const pending = await ctx.friends.listPending(userId, 'incoming', undefined, 100);
      return presentCredentialAccount(origin, user, pending.length);
    };

    app.get('/v1/accounts/verify_credentials', { config: read('accounts') }, async (request) =>
      credentials(principalOf(request).userId, originOf(request)),
    );

    app.patch(
      '/v1/accounts/update_credentials',
      { config: { auth: 'required', scope: 'write:accounts' } },
      async (request) => {
        const { userId } = principalOf(request);
        const body = (request.body ?? {}) as Record<string, unknown>;
        refuseUnsupported(body);
        const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
        const patch = { display_name: text(body.display_name), bio: text(body.note) };
        if (patch.display_name !== undefined || patch.bio !== undefined)
          await ctx.users.updateProfile(userId, patch);
        return credentials(userId, originOf(request));
      },
    );

    app.get('/v1/accounts/lookup', { config: optional }, async (request) => {
      const acct = listParam((request.query as Query).acct)[0] ?? '';
      const [name, host] = acct.replace(/^@/, '').split('@');
      if (!name || (host !== undefined && host !== request.host && host !== request.hostname))
        throw recordNotFound();
      const user = await ctx.users.resolveVisible(name, viewerOf(request)).catch(() => {
        throw recordNotFound();
      });
      return presentAccount(
        originOf(request),
        await visibleAccount(ctx, user.id, viewerOf(request)),
      );
    });

    app.get('/v1/accounts/search', { config: read('accounts') }, async (request) => {
      const query = request.query as Query;
      const q = (listParam(query.q)[0] ?? '').trim().replace(/^@/, '').split('@')[0]!;
      const { limit } = pageParams(query, 'accounts');
      if (q === '') return [];
      const rows = await ctx.users.search(viewerOf(request), q, undefined, limit);
      return rows.map((u) => presentAccount(originOf(request), u));
    });

    app.get('/v1/accounts/relationships', { config: read('follows') }, async (request) => {
      const ids = listParam((request.query as Query).id).slice(0, LIMITS.accounts.max);
      return relationshipsOf(ctx, principalOf(request).userId, ids);
    });

    app.get<{ Params: IdParams }>('/v1/accounts/:id', { config: optional }, async (request) =>
      presentAccount(
        originOf(request),
        await visibleAccount(ctx, request.params.id, viewerOf(request)),
      ),
    );

    app.get<{ Params: IdParams }>(
      '/v1/accounts/:id/statuses',
      { config: optional },
      async (request, reply) => {
        const viewer = viewerOf(request);
        const query = request.query as Query;
        const account = await visibleAccount(ctx, request.params.id, viewer);
        const params = pageParams(query, 'statuses');
        // kith has no pins, media or hashtags; its posts are never replies.
        const empty = ['pinned', 'only_media', 'tagged'].some(
          (k) => listParam(query[k])[0] && listParam(query[k])[0] !== 'false',
        );
        const posts = empty
          ? []
          : await readPage(params, (before, limit) =>
              ctx.posts.byAuthor(viewer, account.username, before, limit),
            );
        setLinks(request, reply, posts, params);
        return new StatusPresenter(db, originOf(request)).present(posts);
      },
    );
  };
}
