import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, IdCursor, Page, pageOf, PageQuery } from '../../http/pagination.ts';
import type { App } from '../../http/types.ts';
import { OwnReport, presentOwnReport, ReportBody } from './moderation.schemas.ts';

const tags = ['moderation'];

/** Reports, as the people who file them see them. */
export function reportsRoutes(ctx: Context) {
  const { reports } = ctx;
  return async (app: App) => {
    app.post(
      '/reports',
      {
        config: { auth: 'required', scope: 'write:reports' },
        schema: {
          tags,
          summary: 'Report an account (and some of its posts or comments)',
          description:
            '400 `cannot_target_self` for your own account; 400 `validation_failed` (code `not_by_account`) when a post or comment is not by the account; 404 `user_not_found`.',
          body: ReportBody,
          response: { 201: OwnReport },
        },
      },
      async (request, reply) => {
        const report = await reports.create(principalOf(request).userId, request.body);
        return reply.status(201).send(presentOwnReport(report));
      },
    );

    app.get(
      '/reports',
      {
        config: { auth: 'required', scope: 'read:reports' },
        schema: {
          tags,
          summary: 'Your reports and their outcome, newest first',
          querystring: Type.Object(PageQuery),
          response: { 200: Page(OwnReport) },
        },
      },
      async (request, reply) => {
        const { limit, cursor } = request.query;
        const before = decodeCursor(IdCursor, cursor)?.id;
        const rows = await reports.mine(principalOf(request).userId, before, limit);
        return pageOf(request, reply, rows, limit, presentOwnReport, (r) => ({ id: r.id }));
      },
    );
  };
}
