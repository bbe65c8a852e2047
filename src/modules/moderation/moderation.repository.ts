import type { Kysely } from 'kysely';
import type {
  DB,
  ModerationAction,
  ReportCategory,
  UserRole,
  UserRow,
} from '../../infra/db/schema.ts';
import { normalizeUsername } from '../../text.ts';

/** A report with the usernames it names (the reporter, the account, the assignee). */
export interface ReportView {
  id: string;
  reporter_id: string;
  reporter_username: string;
  account_id: string;
  account_username: string;
  category: ReportCategory;
  comment: string;
  post_ids: string[];
  comment_ids: string[];
  status: 'open' | 'resolved';
  assignee_id: string | null;
  assignee_username: string | null;
  resolved_by: string | null;
  action: ModerationAction | null;
  resolution: string | null;
  resolved_at: Date | null;
  created_at: Date;
}

export interface ReportFilter {
  status?: 'open' | 'resolved';
  category?: ReportCategory;
  accountId?: string;
  assigneeId?: string;
  reporterId?: string;
  beforeId?: string;
  limit: number;
}

export interface AuditEntry {
  id: string;
  moderator_username: string | null;
  action: string;
  target_username: string | null;
  report_id: string | null;
  reason: string;
  details: Record<string, unknown>;
  created_at: Date;
}

/** SQL for reports, their notes, the audit log and the moderation columns of users. */
export class ModerationRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Locks the user row: two moderators acting on one account act one after the other. */
  lockUser(id: string): Promise<UserRow | undefined> {
    return this.#db
      .selectFrom('users')
      .selectAll()
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
  }

  findUserByUsername(username: string): Promise<UserRow | undefined> {
    return this.#db
      .selectFrom('users')
      .selectAll()
      .where('username', '=', normalizeUsername(username))
      .executeTakeFirst();
  }

  roleOf(id: string): Promise<{ role: UserRole } | undefined> {
    return this.#db.selectFrom('users').select('role').where('id', '=', id).executeTakeFirst();
  }

  async setUser(
    id: string,
    patch: Partial<{
      role: UserRole;
      suspended_at: Date | null;
      limited_at: Date | null;
      sessions_revoked_at: Date;
    }>,
  ): Promise<void> {
    await this.#db.updateTable('users').set(patch).where('id', '=', id).execute();
  }

  /** How many of `ids` are posts (or comments) by `authorId`. */
  async countOwned(table: 'posts' | 'comments', ids: readonly string[], authorId: string) {
    if (ids.length === 0) return 0;
    const row = await this.#db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('id', 'in', ids)
      .where('author_id', '=', authorId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async insertReport(row: {
    id: string;
    reporter_id: string;
    account_id: string;
    category: ReportCategory;
    comment: string;
    post_ids: string[];
    comment_ids: string[];
  }): Promise<void> {
    await this.#db
      .insertInto('reports')
      .values({
        ...row,
        post_ids: JSON.stringify(row.post_ids),
        comment_ids: JSON.stringify(row.comment_ids),
      })
      .execute();
  }

  #reports() {
    return this.#db
      .selectFrom('reports as r')
      .innerJoin('users as rep', 'rep.id', 'r.reporter_id')
      .innerJoin('users as acc', 'acc.id', 'r.account_id')
      .leftJoin('users as asg', 'asg.id', 'r.assignee_id')
      .selectAll('r')
      .select([
        'rep.username as reporter_username',
        'acc.username as account_username',
        'asg.username as assignee_username',
      ]);
  }

  findReport(id: string): Promise<ReportView | undefined> {
    return this.#reports().where('r.id', '=', id).executeTakeFirst();
  }

  lockReport(id: string) {
    return this.#db
      .selectFrom('reports')
      .selectAll()
      .where('id', '=', id)
      .forUpdate()
      .executeTakeFirst();
  }

  /** Newest first, `limit + 1` rows (keyset on the time-ordered id). */
  listReports(f: ReportFilter): Promise<ReportView[]> {
    let q = this.#reports()
      .orderBy('r.id', 'desc')
      .limit(f.limit + 1);
    if (f.status) q = q.where('r.status', '=', f.status);
    if (f.category) q = q.where('r.category', '=', f.category);
    if (f.accountId) q = q.where('r.account_id', '=', f.accountId);
    if (f.assigneeId) q = q.where('r.assignee_id', '=', f.assigneeId);
    if (f.reporterId) q = q.where('r.reporter_id', '=', f.reporterId);
    if (f.beforeId) q = q.where('r.id', '<', f.beforeId);
    return q.execute();
  }

  findUserById(id: string): Promise<UserRow | undefined> {
    return this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Clears the outcome of a resolved report: open again, as it was filed. */
  async reopen(reportId: string): Promise<void> {
    await this.#db
      .updateTable('reports')
      .set({ status: 'open', action: null, resolution: null, resolved_by: null, resolved_at: null })
      .where('id', '=', reportId)
      .execute();
  }

  async assign(reportId: string, assigneeId: string | null): Promise<void> {
    await this.#db
      .updateTable('reports')
      .set({ assignee_id: assigneeId })
      .where('id', '=', reportId)
      .execute();
  }

  async resolve(
    reportId: string,
    by: string,
    action: ModerationAction,
    resolution: string,
  ): Promise<void> {
    await this.#db
      .updateTable('reports')
      .set({
        status: 'resolved',
        action,
        resolution,
        resolved_by: by,
        resolved_at: new Date(),
      })
      .where('id', '=', reportId)
      .execute();
  }

  async addNote(row: { id: string; report_id: string; author_id: string; text: string }) {
    await this.#db.insertInto('report_notes').values(row).execute();
  }

  notes(reportId: string) {
    return this.#db
      .selectFrom('report_notes as n')
      .leftJoin('users as u', 'u.id', 'n.author_id')
      .select(['n.id', 'n.text', 'n.created_at', 'u.username as author_username'])
      .where('n.report_id', '=', reportId)
      .orderBy('n.id')
      .execute();
  }

  async audit(row: {
    id: string;
    moderator_id: string | null;
    action: string;
    target_user_id: string | null;
    report_id?: string | null;
    reason?: string;
    details?: Record<string, unknown>;
  }): Promise<void> {
    await this.#db
      .insertInto('moderation_audit')
      .values({ ...row, details: JSON.stringify(row.details ?? {}) })
      .execute();
  }

  findAudit(id: string) {
    return this.#db
      .selectFrom('moderation_audit')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /** Newest first, `limit + 1` rows. */
  listAudit(f: { targetId?: string; beforeId?: string; limit: number }): Promise<AuditEntry[]> {
    let q = this.#db
      .selectFrom('moderation_audit as a')
      .leftJoin('users as m', 'm.id', 'a.moderator_id')
      .leftJoin('users as t', 't.id', 'a.target_user_id')
      .select([
        'a.id',
        'a.action',
        'a.report_id',
        'a.reason',
        'a.details',
        'a.created_at',
        'm.username as moderator_username',
        't.username as target_username',
      ])
      .orderBy('a.id', 'desc')
      .limit(f.limit + 1);
    if (f.targetId) q = q.where('a.target_user_id', '=', f.targetId);
    if (f.beforeId) q = q.where('a.id', '<', f.beforeId);
    return q.execute();
  }
}
