import type { FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { ValidationError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { ReportView } from '../moderation/moderation.repository.ts';
import { MASTODON_FLAVOUR } from './flavour.ts';
import {
  asStaff,
  isId,
  listParam,
  recordNotFound,
  textParam,
  truthy,
  visibleAccount,
} from './lookup.ts';
import {
  kithCategory,
  MASTODON_CATEGORIES,
  presentAdminReports,
  presentReport,
} from './moderation.presenter.ts';
import { originOf, pageParams, readPage, setLinks } from './paging.ts';
import { splitStatusIds } from './replies.ts';

type IdParams = { id: string };
type Body = Record<string, unknown>;

const STATUS_IDS_MAX = 20;
const readReports = { auth: 'required' as const, scope: 'admin:read:reports' };
const writeReports = { auth: 'required' as const, scope: 'admin:write:reports' };

/** A report's id from the path: malformed is a 404, as every Mastodon id. */
const reportId = (request: FastifyRequest<{ Params: IdParams }>) => {
  if (!isId(request.params.id)) throw recordNotFound();
  return request.params.id.toLowerCase();
};

/**
 * Reports as Mastodon apps file them, and the moderators' queue as Mastodon's admin API: the
 * same services as kith's own routes (roles, rules, audit log, the user told), other shapes.
 * Where a path is kith's too, the token decides (flavour.ts).
 */
export function mastodonModerationRoutes(ctx: Context) {
  const { reports } = ctx;
  return async (app: App) => {
    const adminReports = async (request: FastifyRequest, rows: ReportView[]) =>
      presentAdminReports(ctx, principalOf(request).userId, originOf(request), rows);

    app.post(
      '/v1/reports',
      {
        config: { auth: 'required', scope: 'write:reports' },
        constraints: MASTODON_FLAVOUR,
      },
      async (request) => {
        const { userId } = principalOf(request);
        const body = (request.body ?? {}) as Body;
        const target = await visibleAccount(ctx, textParam(body.account_id), userId);
        // As Mastodon: with rules cited and no category, the report is about a violation.
        const cited = listParam(body.rule_ids).length > 0;
        const category = kithCategory(textParam(body.category, cited ? 'violation' : 'other'));
        const statusIds = listParam(body.status_ids);
        const errors = [];
        if (!category)
          errors.push({
            path: '/category',
            code: 'invalid',
            message: `must be one of ${MASTODON_CATEGORIES.join(', ')}`,
          });
        if (statusIds.length > STATUS_IDS_MAX || !statusIds.every(isId))
          errors.push({
            path: '/status_ids',
            code: 'invalid',
            message: `must be at most ${STATUS_IDS_MAX} status ids`,
          });
        if (body.comment !== undefined && body.comment !== null && typeof body.comment !== 'string')
          errors.push({ path: '/comment', code: 'invalid', message: 'must be text' });
        if (errors.length > 0) throw new ValidationError(errors);
        // `forward` (federation) is ignored; kith has no server rules to keep `rule_ids` against.
        const report = await reports.create(userId, {
          account: target.username,
          category: category!,
          comment: typeof body.comment === 'string' ? body.comment : '',
          ...(await splitStatusIds(ctx, statusIds)),
        });
        const user = await new UsersRepository(ctx.database.db).findById(target.id);
        return presentReport(originOf(request), report, user!);
      },
    );

    app.get(
      '/v1/admin/reports',
      { config: readReports, constraints: MASTODON_FLAVOUR },
      async (request, reply) => {
        const { userId } = principalOf(request);
        const query = (request.query ?? {}) as Record<string, unknown>;
        const params = pageParams(query, 'reports');
        // Mastodon lists open reports unless `resolved` is set.
        const resolved = truthy(query.resolved);
        const idFilter = (value: unknown) => {
          if (value === undefined || value === '') return undefined;
          return isId(value) ? value.toLowerCase() : null;
        };
        const reporterId = idFilter(query.account_id);
        const targetId = idFilter(query.target_account_id);
        const rows = await asStaff(async () => {
          await ctx.moderation.requireRole(userId, 'moderator');
          if (reporterId === null || targetId === null) return [];
          const target =
            targetId === undefined
              ? undefined
              : await ctx.moderation.accountById(userId, targetId).catch(() => null);
          if (target === null) return [];
          return readPage(params, async (before, limit) => {
            const page = await reports.queue(userId, {
              status: resolved ? 'resolved' : 'open',
              ...(reporterId ? { reporterId } : {}),
              ...(target ? { account: target.username } : {}),
              beforeId: before,
              limit,
            });
            return page.slice(0, limit);
          });
        });
        setLinks(request, reply, rows, params);
        return adminReports(request, rows);
      },
    );

    app.get<{ Params: IdParams }>(
      '/v1/admin/reports/:id',
      { config: readReports, constraints: MASTODON_FLAVOUR },
      async (request) => {
        const id = reportId(request);
        const { report } = await asStaff(() => reports.get(principalOf(request).userId, id));
        return (await adminReports(request, [report]))[0];
      },
    );

    const verbs = {
      assign_to_self: (actor: string, id: string) => reports.assign(actor, id, undefined),
      unassign: (actor: string, id: string) => reports.unassign(actor, id),
      // Mastodon's resolve closes the report with no further action: kith's `dismiss`.
      resolve: (actor: string, id: string) => reports.resolve(actor, id, 'dismiss', ''),
      reopen: (actor: string, id: string) => reports.reopen(actor, id),
    };
    for (const [verb, act] of Object.entries(verbs)) {
      app.post<{ Params: IdParams }>(
        `/v1/admin/reports/:id/${verb}`,
        // kith has `/admin/reports/:id/unassign`, `resolve` and `reopen` too: the token decides.
        verb === 'assign_to_self'
          ? { config: writeReports }
          : { config: writeReports, constraints: MASTODON_FLAVOUR },
        async (request) => {
          const id = reportId(request);
          const { report } = await asStaff(() => act(principalOf(request).userId, id));
          return (await adminReports(request, [report]))[0];
        },
      );
    }
  };
}
