import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { AppError } from '../../errors.ts';
import { presentAccount, presentCredentialAccount } from './accounts.presenter.ts';
import { clamp, LIMITS, originOf, pageParams, readPage, setLinks } from './paging.ts';
import { listParam, recordNotFound, truthy, viewerOf, visibleAccount } from './lookup.ts';
import { findAccounts } from './search.routes.ts';
import { isComment, StatusPresenter } from './statuses.presenter.ts';
import { accountStatuses } from './replies.ts';
import { relationshipsOf } from './relationships.ts';
import { changeProfile } from '../accounts/profile.service.ts';
import { PICTURE_KINDS } from '../media/profile-pictures.service.ts';

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
        const file = (v: unknown) => (Buffer.isBuffer(v) ? v : undefined);
        const patch = { display_name: text(body.display_name), bio: text(body.note) };
        await changeProfile(ctx, userId, patch, {
          avatar: file(body.avatar),
          header: file(body.header),
        });
        return credentials(userId, originOf(request));
      },
    );

    // Mastodon 4.2+: back to the default picture; answers with the CredentialAccount.
    for (const kind of PICTURE_KINDS) {
      app.delete(
        `/v1/profile/${kind}`,
        { config: { auth: 'required', scope: 'write:accounts' } },
        async (request) => {
          const { userId } = principalOf(request);
          await ctx.profilePictures.apply(userId, { [kind]: null });
          return credentials(userId, originOf(request));
        },
      );
    }

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
      const q = listParam(query.q)[0] ?? '';
      const { limit } = pageParams(query, 'accounts');
      const offset = clamp(query.offset, 0, 0, Number.MAX_SAFE_INTEGER);
      return findAccounts(ctx, request, q, { limit, offset, following: truthy(query.following) });
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
        const asked = (k: string) => listParam(query[k])[0] && listParam(query[k])[0] !== 'false';
        // kith has no pins or per-account hashtag filters. Replies are the account's comments.
        const empty = ['pinned', 'tagged'].some(asked);
        const replies = !asked('exclude_replies') && !asked('only_media');
        const page = empty
          ? []
          : await readPage(params, (before, limit) =>
              accountStatuses(ctx, viewer, account, replies, before, limit),
            );
        // only_media filters the page (a page may come back short; its links still go on).
        const posts = asked('only_media')
          ? page.filter((p) => !isComment(p) && p.media.length > 0)
          : page;
        setLinks(request, reply, page, params);
        return new StatusPresenter(ctx.users, originOf(request)).present(posts);
      },
    );
  };
}
