import type { FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { AppError, ValidationError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import type { ModerationAction } from '../../infra/db/schema.ts';
import type { AccountAction } from '../moderation/moderation.service.ts';
import { MASTODON_FLAVOUR } from './flavour.ts';
import { asStaff, isId, recordNotFound, textParam } from './lookup.ts';
import { presentAdminAccount } from './moderation.presenter.ts';
import { originOf } from './paging.ts';

type IdParams = { id: string };
type Body = Record<string, unknown>;

const read = { auth: 'required' as const, scope: 'admin:read:accounts' };
const write = { auth: 'required' as const, scope: 'admin:write:accounts' };

/**
 * Mastodon's account action `type` as kith's (docs/MASTODON.md): `none` closes the report it
 * names with nothing done (kith has no warnings, so it needs `report_id`); `silence` is kith's
 * limit; `suspend` its suspension. `disable` (login refused, content kept) and `sensitive`
 * (media marked) have no kith counterpart and are refused rather than turned into something
 * else.
 */
const ACTIONS: Record<string, ModerationAction | 'unsupported'> = {
  none: 'dismiss',
  silence: 'limit',
  suspend: 'suspend',
  disable: 'unsupported',
  sensitive: 'unsupported',
};

const unsupported = (what: string) =>
  new AppError(422, 'unsupported', `${what} is not supported by kith`);

/** Admin::Account, account actions, unsuspend and unsilence. */
export function mastodonAccountActions(ctx: Context) {
  const { moderation, reports } = ctx;
  return async (app: App) => {
    /** The account the path names, for moderators (403 first, then 404). */
    const account = (request: FastifyRequest<{ Params: IdParams }>) =>
      asStaff(async () => {
        const { userId } = principalOf(request);
        await moderation.requireRole(userId, 'moderator');
        if (!isId(request.params.id)) throw recordNotFound();
        return moderation.accountById(userId, request.params.id.toLowerCase());
      });

    app.get<{ Params: IdParams }>('/v1/admin/accounts/:id', { config: read }, async (request) =>
      presentAdminAccount(originOf(request), await account(request)),
    );

    app.post<{ Params: IdParams }>(
      '/v1/admin/accounts/:id/action',
      { config: write },
      async (request) => {
        const { userId } = principalOf(request);
        const target = await account(request);
        const body = (request.body ?? {}) as Body;
        const type = textParam(body.type, 'none');
        const action = ACTIONS[type];
        if (action === undefined)
          throw new ValidationError([
            {
              path: '/type',
              code: 'invalid',
              message: `must be one of ${Object.keys(ACTIONS).join(', ')}`,
            },
          ]);
        if (action === 'unsupported') throw unsupported(`type ${type}`);
        if (body.text !== undefined && body.text !== null && typeof body.text !== 'string')
          throw new ValidationError([{ path: '/text', code: 'invalid', message: 'must be text' }]);
        const text = typeof body.text === 'string' ? body.text : '';
        // `send_email_notification` and `warning_preset_id` are ignored: kith tells the user of
        // every action taken on their account, as its own routes do.
        const rawReport = body.report_id;
        if (rawReport === undefined || rawReport === null || rawReport === '') {
          if (action === 'dismiss') throw unsupported('type none without report_id (a warning)');
          await asStaff(() =>
            moderation.act(userId, target.username, action as AccountAction, text),
          );
          return {};
        }
        if (!isId(rawReport)) throw recordNotFound();
        const id = rawReport.toLowerCase();
        await asStaff(async () => {
          const { report } = await reports.get(userId, id);
          if (report.account_id !== target.id)
            throw new ValidationError([
              {
                path: '/report_id',
                code: 'not_about_account',
                message: 'is about another account',
              },
            ]);
          await reports.resolve(userId, id, action, text);
        });
        return {};
      },
    );

    for (const [verb, action] of [
      ['unsuspend', 'unsuspend'],
      ['unsilence', 'unlimit'],
    ] as const) {
      app.post<{ Params: IdParams }>(
        `/v1/admin/accounts/:id/${verb}`,
        // kith has `/admin/accounts/:username/unsuspend`: the token decides there.
        verb === 'unsuspend' ? { config: write, constraints: MASTODON_FLAVOUR } : { config: write },
        async (request) => {
          const target = await account(request);
          const after = await asStaff(() =>
            moderation.act(principalOf(request).userId, target.username, action, ''),
          );
          return presentAdminAccount(originOf(request), after);
        },
      );
    }
  };
}
