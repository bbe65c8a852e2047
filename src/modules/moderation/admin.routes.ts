import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import { decodeCursor, IdCursor, Page, pageOf, PageQuery } from '../../http/pagination.ts';
import { problemResponse } from '../../http/problem.ts';
import type { App } from '../../http/types.ts';
import {
  AccountActionBody,
  AdminReport,
  AssignBody,
  AuditItem,
  IdParams,
  ModeratedAccount,
  NoteBody,
  presentAccount,
  presentAdminReport,
  presentAudit,
  presentDetail,
  QueueQuery,
  ReportDetail,
  ResolveBody,
  RoleBody,
  UsernameParams,
} from './moderation.schemas.ts';
import type { AccountAction } from './moderation.service.ts';

const tags = ['moderation'];
const STAFF = 'Moderators and admins only (403 `moderator_only`).';
const forbidden = { 403: problemResponse('Not allowed for your role (`moderator_only`, …).') };

/** The moderators' side: the report queue, account actions, roles and the audit log. */
export function adminRoutes(ctx: Context) {
  const { reports, moderation } = ctx;
  return async (app: App) => {
    const staff = { auth: 'required' as const, scope: 'admin:write' };

    app.get(
      '/admin/reports',
      {
        config: { auth: 'required', scope: 'admin:read' },
        schema: {
          tags,
          summary: 'The report queue, newest first',
          description: `Filter by \`status\`, \`category\`, reported \`account\`, \`assignee\`. ${STAFF}`,
          querystring: Type.Object({ ...QueueQuery, ...PageQuery }),
          response: { 200: Page(AdminReport), ...forbidden },
        },
      },
      async (request, reply) => {
        const { limit, cursor, ...filter } = request.query;
        const beforeId = decodeCursor(IdCursor, cursor)?.id;
        const rows = await reports.queue(principalOf(request).userId, {
          ...filter,
          beforeId,
          limit,
        });
        return pageOf(request, reply, rows, limit, presentAdminReport, (r) => ({ id: r.id }));
      },
    );

    app.get(
      '/admin/reports/:id',
      {
        config: { auth: 'required', scope: 'admin:read' },
        schema: {
          tags,
          summary: 'One report with its notes',
          description: STAFF,
          params: IdParams,
          response: { 200: ReportDetail, ...forbidden },
        },
      },
      async (request) =>
        presentDetail(await reports.get(principalOf(request).userId, request.params.id)),
    );

    app.post(
      '/admin/reports/:id/assign',
      {
        config: staff,
        schema: {
          tags,
          summary: 'Take a report, or give it to another moderator',
          description: `400 \`not_a_moderator\`. ${STAFF}`,
          params: IdParams,
          body: AssignBody,
          response: { 200: ReportDetail, ...forbidden },
        },
      },
      async (request) =>
        presentDetail(
          await reports.assign(
            principalOf(request).userId,
            request.params.id,
            request.body.username,
          ),
        ),
    );

    app.post(
      '/admin/reports/:id/unassign',
      {
        config: staff,
        schema: {
          tags,
          summary: 'Give a report back to the queue (nobody’s)',
          description: STAFF,
          params: IdParams,
          response: { 200: ReportDetail, ...forbidden },
        },
      },
      async (request) =>
        presentDetail(await reports.unassign(principalOf(request).userId, request.params.id)),
    );

    app.post(
      '/admin/reports/:id/reopen',
      {
        config: staff,
        schema: {
          tags,
          summary: 'Open a resolved report again',
          description: `What its resolution did stays done (lift a suspension with \`unsuspend\`). 409 \`report_open\` when it is open. ${STAFF}`,
          params: IdParams,
          response: { 200: ReportDetail, ...forbidden },
        },
      },
      async (request) =>
        presentDetail(await reports.reopen(principalOf(request).userId, request.params.id)),
    );

    app.post(
      '/admin/reports/:id/notes',
      {
        config: staff,
        schema: {
          tags,
          summary: 'Add a note for other moderators',
          description: STAFF,
          params: IdParams,
          body: NoteBody,
          response: { 201: ReportDetail, ...forbidden },
        },
      },
      async (request, reply) =>
        reply
          .status(201)
          .send(
            presentDetail(
              await reports.addNote(
                principalOf(request).userId,
                request.params.id,
                request.body.text,
              ),
            ),
          ),
    );

    app.post(
      '/admin/reports/:id/resolve',
      {
        config: staff,
        schema: {
          tags,
          summary: 'Resolve a report with an action',
          description: `\`dismiss\`, \`delete_content\` (the reported posts and comments), \`limit\` or \`suspend\` the account. 409 \`report_resolved\` when someone resolved it first. ${STAFF}`,
          params: IdParams,
          body: ResolveBody,
          response: { 200: ReportDetail, ...forbidden },
        },
      },
      async (request) =>
        presentDetail(
          await reports.resolve(
            principalOf(request).userId,
            request.params.id,
            request.body.action,
            request.body.reason ?? '',
          ),
        ),
    );

    const ACTIONS: Record<AccountAction, string> = {
      suspend:
        'Suspend the account: logins refused, every session ended and open stream closed on every node, the profile and everything it made answer 404 to everyone else. 409 `already_suspended`.',
      unsuspend: 'Lift a suspension: everything comes back. 409 `not_suspended`.',
      limit:
        'Limit the account: its posts reach only its followers (no public timelines, search or trends). 409 `already_limited`.',
      unlimit: 'Lift a limit. 409 `not_limited`.',
    };
    for (const [action, description] of Object.entries(ACTIONS) as [AccountAction, string][]) {
      app.post(
        `/admin/accounts/:username/${action}`,
        {
          config: staff,
          schema: {
            tags,
            summary: `${action[0]!.toUpperCase()}${action.slice(1)} an account`,
            description: `${description} 403 \`cannot_moderate_staff\` for a moderator or admin unless you are an admin (admins: the command line). ${STAFF}`,
            params: UsernameParams,
            body: AccountActionBody,
            response: { 200: ModeratedAccount, ...forbidden },
          },
        },
        async (request) =>
          presentAccount(
            await moderation.act(
              principalOf(request).userId,
              request.params.username,
              action,
              request.body.reason ?? '',
            ),
          ),
      );
    }

    app.put(
      '/admin/accounts/:username/role',
      {
        config: staff,
        schema: {
          tags,
          summary: 'Grant or revoke moderator',
          description:
            'Admins only (403 `admin_only`). Admins are made and unmade from the command line only (403 `admin_grant_cli_only`).',
          params: UsernameParams,
          body: RoleBody,
          response: { 200: ModeratedAccount, ...forbidden },
        },
      },
      async (request) =>
        presentAccount(
          await moderation.setRole(
            principalOf(request).userId,
            request.params.username,
            request.body.role,
          ),
        ),
    );

    app.get(
      '/admin/audit',
      {
        config: { auth: 'required', scope: 'admin:read' },
        schema: {
          tags,
          summary: 'The audit log: every moderator action, newest first',
          description: `Filter by \`target\` (a username). ${STAFF}`,
          querystring: Type.Object({
            target: Type.Optional(Type.String({ maxLength: 64 })),
            ...PageQuery,
          }),
          response: { 200: Page(AuditItem), ...forbidden },
        },
      },
      async (request, reply) => {
        const { limit, cursor, target } = request.query;
        const beforeId = decodeCursor(IdCursor, cursor)?.id;
        const rows = await moderation.auditLog(principalOf(request).userId, {
          ...(target === undefined ? {} : { target }),
          beforeId,
          limit,
        });
        return pageOf(request, reply, rows, limit, presentAudit, (r) => ({ id: r.id }));
      },
    );
  };
}
