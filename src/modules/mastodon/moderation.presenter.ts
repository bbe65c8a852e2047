import type { Context } from '../../app/context.ts';
import type { ReportCategory, UserRole, UserRow } from '../../infra/db/schema.ts';
import type { ReportView } from '../moderation/moderation.repository.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { presentAccount } from './accounts.presenter.ts';
import { StatusPresenter, type Statusable } from './statuses.presenter.ts';

/**
 * Mastodon's report categories and kith's (docs/MASTODON.md, "Mapping decisions"): `legal` is
 * kith's `illegal`, `violation` (a rule of the server was broken) its `abuse`, so a category
 * comes back to the app as it was sent.
 */
const TO_KITH: Record<string, ReportCategory> = {
  spam: 'spam',
  legal: 'illegal',
  violation: 'abuse',
  other: 'other',
};
const TO_MASTODON: Record<ReportCategory, string> = {
  spam: 'spam',
  illegal: 'legal',
  abuse: 'violation',
  other: 'other',
};
export const MASTODON_CATEGORIES = Object.keys(TO_KITH);
export const kithCategory = (category: string): ReportCategory | undefined => TO_KITH[category];

/**
 * kith's three roles as Mastodon Role entities (docs entities/Role.md). Permission bits as
 * Mastodon's: administrator (0x1) for admins; manage reports, view audit log and manage users
 * (0x10 | 0x20 | 0x400) for moderators; none for users (Mastodon's "everyone" role, id -99).
 */
const ROLES: Record<UserRole, { id: string; name: string; permissions: string; position: number }> =
  {
    user: { id: '-99', name: '', permissions: '0', position: -1 },
    moderator: {
      id: '1',
      name: 'Moderator',
      permissions: String(0x10 | 0x20 | 0x400),
      position: 10,
    },
    admin: { id: '2', name: 'Admin', permissions: '1', position: 100 },
  };
const EPOCH = new Date(0).toISOString();

export const presentRole = (role: UserRole) => ({
  ...ROLES[role],
  color: '',
  highlighted: role !== 'user',
  created_at: EPOCH,
  updated_at: EPOCH,
});

/** A kith user as a Mastodon Admin::Account (docs entities/Admin_Account.md). */
export function presentAdminAccount(origin: string, user: UserRow) {
  return {
    id: user.id,
    username: user.username,
    domain: null,
    created_at: new Date(user.created_at).toISOString(),
    email: user.email,
    // kith keeps no sign-in addresses: none to show.
    ip: null,
    ips: [],
    locale: 'en',
    invite_request: null,
    role: presentRole(user.role),
    confirmed: user.email_verified_at !== null,
    approved: true,
    // kith has no login-only freeze (Mastodon's "disable"): suspension is its one lock.
    disabled: false,
    silenced: user.limited_at !== null,
    suspended: user.suspended_at !== null,
    sensitized: false,
    account: presentAccount(origin, user),
    created_by_application_id: null,
    invited_by_account_id: null,
  };
}

/** A report as its reporter sees it (docs entities/Report.md). */
export function presentReport(origin: string, report: ReportView, target: UserRow) {
  return {
    id: report.id,
    action_taken: report.status === 'resolved',
    action_taken_at: report.resolved_at?.toISOString() ?? null,
    category: TO_MASTODON[report.category],
    comment: report.comment,
    forwarded: false,
    created_at: report.created_at.toISOString(),
    status_ids: [...report.post_ids, ...report.comment_ids],
    rule_ids: [],
    target_account: presentAccount(origin, target),
  };
}

/**
 * Presents reports as Mastodon Admin::Reports (docs entities/Admin_Report.md): the accounts they
 * name in one query, their posts as the moderator sees them (deleted ones left out).
 */
export async function presentAdminReports(
  ctx: Context,
  moderatorId: string,
  origin: string,
  reports: readonly ReportView[],
) {
  const ids = new Set<string>();
  for (const r of reports)
    for (const id of [r.reporter_id, r.account_id, r.assignee_id, r.resolved_by])
      if (id) ids.add(id);
  const users = new Map(
    (await new UsersRepository(ctx.database.db).findManyByIds([...ids])).map((u) => [u.id, u]),
  );
  const admin = (id: string | null) => {
    const user = id ? users.get(id) : undefined;
    return user ? presentAdminAccount(origin, user) : null;
  };
  const statuses = new StatusPresenter(ctx.users, origin);
  return Promise.all(
    reports.map(async (r) => {
      const posts: Statusable[] = [];
      for (const id of r.post_ids) {
        const post = await ctx.posts.get(moderatorId, id).catch(() => undefined);
        if (post) posts.push(post);
      }
      for (const id of r.comment_ids) {
        const comment = await ctx.comments.get(moderatorId, id).catch(() => undefined);
        if (comment) posts.push(comment);
      }
      return {
        id: r.id,
        action_taken: r.status === 'resolved',
        action_taken_at: r.resolved_at?.toISOString() ?? null,
        category: TO_MASTODON[r.category],
        comment: r.comment,
        forwarded: false,
        created_at: r.created_at.toISOString(),
        updated_at: (r.resolved_at ?? r.created_at).toISOString(),
        account: admin(r.reporter_id),
        target_account: admin(r.account_id),
        assigned_account: admin(r.assignee_id),
        action_taken_by_account: admin(r.resolved_by),
        statuses: await statuses.present(posts),
        rules: [],
        kith: { category: r.category, action: r.action, resolution: r.resolution },
      };
    }),
  );
}
