import { Type } from 'typebox';
import { NO_CONTROLS } from '../accounts/accounts.schemas.ts';
import type { UserRow } from '../../infra/db/schema.ts';
import type { AuditEntry, ReportView } from './moderation.repository.ts';
import { NOTE_MAX, REPORT_COMMENT_MAX } from './reports.service.ts';

const Uuid = Type.String({ format: 'uuid' });
const Time = Type.String({ format: 'date-time' });
const NullableTime = Type.Union([Time, Type.Null()]);
const UsernameRef = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: NO_CONTROLS,
  description: 'A username.',
});

export const Category = Type.Union(
  [Type.Literal('spam'), Type.Literal('abuse'), Type.Literal('illegal'), Type.Literal('other')],
  { description: 'What is wrong.' },
);

export const Action = Type.Union(
  [
    Type.Literal('dismiss'),
    Type.Literal('delete_content'),
    Type.Literal('limit'),
    Type.Literal('suspend'),
  ],
  { description: 'What resolving the report does (see docs/MODERATION.md).' },
);

export const ReportBody = Type.Object(
  {
    account: UsernameRef,
    category: Category,
    comment: Type.Optional(
      Type.String({
        maxLength: REPORT_COMMENT_MAX * 2,
        description: `What happened, at most ${REPORT_COMMENT_MAX} characters.`,
      }),
    ),
    post_ids: Type.Optional(
      Type.Array(Uuid, {
        maxItems: 20,
        description: "Posts of the account (someone else's: 400).",
      }),
    ),
    comment_ids: Type.Optional(
      Type.Array(Uuid, { maxItems: 20, description: 'Comments of the account.' }),
    ),
  },
  { additionalProperties: false },
);

export const IdParams = Type.Object({ id: Uuid });
export const UsernameParams = Type.Object({ username: UsernameRef });

const Reason = Type.String({
  maxLength: NOTE_MAX * 2,
  description: `Told to the affected user (mail and notification); at most ${NOTE_MAX} characters.`,
});

export const ResolveBody = Type.Object(
  { action: Action, reason: Type.Optional(Reason) },
  { additionalProperties: false },
);
export const AccountActionBody = Type.Object(
  { reason: Type.Optional(Reason) },
  { additionalProperties: false },
);
export const AssignBody = Type.Object(
  {
    username: Type.Optional(
      Type.Union([UsernameRef], { description: 'The moderator; yourself when absent.' }),
    ),
  },
  { additionalProperties: false },
);
export const NoteBody = Type.Object(
  { text: Type.String({ maxLength: NOTE_MAX * 2, description: `1-${NOTE_MAX} characters.` }) },
  { additionalProperties: false },
);
export const RoleBody = Type.Object(
  {
    role: Type.Union([Type.Literal('user'), Type.Literal('moderator'), Type.Literal('admin')], {
      description: '`admin` is refused here (`admin_grant_cli_only`): use `kith admin grant`.',
    }),
  },
  { additionalProperties: false },
);

/** A report as its reporter sees it: what they reported and what came of it. */
export const OwnReport = Type.Object({
  id: Uuid,
  account: Type.String({ description: 'The reported username.' }),
  category: Category,
  comment: Type.String(),
  post_ids: Type.Array(Uuid),
  comment_ids: Type.Array(Uuid),
  status: Type.Union([Type.Literal('open'), Type.Literal('resolved')]),
  action: Type.Union([Action, Type.Null()], { description: 'The outcome, once resolved.' }),
  resolved_at: NullableTime,
  created_at: Time,
});

/** A report as moderators see it. */
export const AdminReport = Type.Object({
  ...OwnReport.properties,
  reporter: Type.String(),
  assignee: Type.Union([Type.String(), Type.Null()]),
  resolution: Type.Union([Type.String(), Type.Null()]),
});

export const ReportDetail = Type.Object({
  ...AdminReport.properties,
  notes: Type.Array(
    Type.Object({
      id: Uuid,
      author: Type.Union([Type.String(), Type.Null()]),
      text: Type.String(),
      created_at: Time,
    }),
  ),
});

export const ModeratedAccount = Type.Object({
  id: Uuid,
  username: Type.String(),
  role: Type.Union([Type.Literal('user'), Type.Literal('moderator'), Type.Literal('admin')]),
  suspended_at: NullableTime,
  limited_at: NullableTime,
});

export const AuditItem = Type.Object({
  id: Uuid,
  moderator: Type.Union([Type.String(), Type.Null()], {
    description: 'Null: the command line.',
  }),
  action: Type.String(),
  target: Type.Union([Type.String(), Type.Null()]),
  report_id: Type.Union([Uuid, Type.Null()]),
  reason: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
  created_at: Time,
});

export const QueueQuery = {
  status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('resolved')])),
  category: Type.Optional(Category),
  account: Type.Optional(UsernameRef),
  assignee: Type.Optional(UsernameRef),
};

export function presentOwnReport(r: ReportView) {
  return {
    id: r.id,
    account: r.account_username,
    category: r.category,
    comment: r.comment,
    post_ids: r.post_ids,
    comment_ids: r.comment_ids,
    status: r.status,
    action: r.action,
    resolved_at: r.resolved_at?.toISOString() ?? null,
    created_at: r.created_at.toISOString(),
  };
}

export function presentAdminReport(r: ReportView) {
  return {
    ...presentOwnReport(r),
    reporter: r.reporter_username,
    assignee: r.assignee_username,
    resolution: r.resolution,
  };
}

export function presentDetail(d: {
  report: ReportView;
  notes: { id: string; author_username: string | null; text: string; created_at: Date }[];
}) {
  return {
    ...presentAdminReport(d.report),
    notes: d.notes.map((n) => ({
      id: n.id,
      author: n.author_username,
      text: n.text,
      created_at: n.created_at.toISOString(),
    })),
  };
}

export function presentAccount(u: UserRow) {
  return {
    id: u.id,
    username: u.username,
    role: u.role,
    suspended_at: u.suspended_at?.toISOString() ?? null,
    limited_at: u.limited_at?.toISOString() ?? null,
  };
}

export function presentAudit(a: AuditEntry) {
  return {
    id: a.id,
    moderator: a.moderator_username,
    action: a.action,
    target: a.target_username,
    report_id: a.report_id,
    reason: a.reason,
    details: a.details,
    created_at: a.created_at.toISOString(),
  };
}
