import type { Kysely } from 'kysely';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { DB, ModerationAction, ReportCategory } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { cleanText } from '../../text.ts';
import { ModerationRepository, type ReportFilter } from './moderation.repository.ts';
import { userNotFound, type ModerationService } from './moderation.service.ts';

export const REPORT_COMMENT_MAX = 1000;
export const NOTE_MAX = 2000;

export interface ReportInput {
  account: string;
  category: ReportCategory;
  comment?: string;
  post_ids?: string[];
  comment_ids?: string[];
}

const reportNotFound = () => new NotFoundError('report_not_found', 'No such report.');

/**
 * Reports: any user files them about another account (and some of its posts or comments) and
 * follows their outcome; moderators work through the queue, take them, note and resolve them.
 */
export class ReportsService {
  readonly #db: Kysely<DB>;
  readonly #moderation: ModerationService;

  constructor(db: Kysely<DB>, moderation: ModerationService) {
    this.#db = db;
    this.#moderation = moderation;
  }

  async create(reporterId: string, input: ReportInput) {
    const repo = new ModerationRepository(this.#db);
    const account = await repo.findUserByUsername(input.account);
    if (!account || account.suspended_at) throw userNotFound(input.account);
    if (account.id === reporterId)
      throw new AppError(400, 'cannot_target_self', 'You cannot report yourself.');
    const comment = cleanText(input.comment ?? '', '/comment', {
      min: 0,
      max: REPORT_COMMENT_MAX,
      multiline: true,
    });
    const postIds = [...new Set(input.post_ids ?? [])];
    const commentIds = [...new Set(input.comment_ids ?? [])];
    // Someone else's post in a report about this account would put the wrong person in the queue.
    const errors = [];
    if ((await repo.countOwned('posts', postIds, account.id)) !== postIds.length)
      errors.push({
        path: '/post_ids',
        code: 'not_by_account',
        message: 'must be posts of the account',
      });
    if ((await repo.countOwned('comments', commentIds, account.id)) !== commentIds.length)
      errors.push({
        path: '/comment_ids',
        code: 'not_by_account',
        message: 'must be comments of the account',
      });
    if (errors.length > 0)
      throw new ValidationError(errors, 'The report names content the account did not write.');
    const id = newId();
    await repo.insertReport({
      id,
      reporter_id: reporterId,
      account_id: account.id,
      category: input.category,
      comment,
      post_ids: postIds,
      comment_ids: commentIds,
    });
    return (await repo.findReport(id))!;
  }

  /** The reporter's own reports, newest first (their outcome included). */
  mine(reporterId: string, beforeId: string | undefined, limit: number) {
    return new ModerationRepository(this.#db).listReports({ reporterId, beforeId, limit });
  }

  async queue(
    actorId: string,
    f: Omit<ReportFilter, 'accountId' | 'assigneeId'> & { account?: string; assignee?: string },
  ) {
    await this.#moderation.requireRole(actorId, 'moderator');
    const repo = new ModerationRepository(this.#db);
    const idOf = async (username: string | undefined) => {
      if (username === undefined) return undefined;
      const user = await repo.findUserByUsername(username);
      if (!user) throw userNotFound(username);
      return user.id;
    };
    const { account, assignee, ...rest } = f;
    return repo.listReports({
      ...rest,
      accountId: await idOf(account),
      assigneeId: await idOf(assignee),
    });
  }

  async get(actorId: string, id: string) {
    await this.#moderation.requireRole(actorId, 'moderator');
    const repo = new ModerationRepository(this.#db);
    const report = await repo.findReport(id);
    if (!report) throw reportNotFound();
    return { report, notes: await repo.notes(id) };
  }

  /** Gives the report to a moderator (the caller when `username` is absent). */
  async assign(actorId: string, id: string, username: string | undefined) {
    await this.#moderation.requireRole(actorId, 'moderator');
    const repo = new ModerationRepository(this.#db);
    let assigneeId = actorId;
    if (username !== undefined) {
      const user = await repo.findUserByUsername(username);
      if (!user) throw userNotFound(username);
      if (user.role === 'user')
        throw new AppError(400, 'not_a_moderator', `"${username}" is not a moderator.`);
      assigneeId = user.id;
    }
    await transaction(this.#db, async (trx) => {
      const tx = new ModerationRepository(trx);
      const report = await tx.lockReport(id);
      if (!report) throw reportNotFound();
      await tx.assign(id, assigneeId);
      await this.#moderation.audit(trx, {
        actorId,
        action: 'report.assigned',
        targetId: report.account_id,
        reason: '',
        reportId: id,
        details: { assignee_id: assigneeId },
        notify: false,
      });
    });
    return this.get(actorId, id);
  }

  /** Gives the report back to the queue (nobody's). */
  async unassign(actorId: string, id: string) {
    await this.#moderation.requireRole(actorId, 'moderator');
    await transaction(this.#db, async (trx) => {
      const tx = new ModerationRepository(trx);
      const report = await tx.lockReport(id);
      if (!report) throw reportNotFound();
      await tx.assign(id, null);
      await this.#moderation.audit(trx, {
        actorId,
        action: 'report.unassigned',
        targetId: report.account_id,
        reason: '',
        reportId: id,
        details: { assignee_id: report.assignee_id },
        notify: false,
      });
    });
    return this.get(actorId, id);
  }

  /**
   * Opens a resolved report again (409 `report_open` when it is open). What its resolution did
   * stays done (a suspension is lifted with `unsuspend`); the audit log keeps both.
   */
  async reopen(actorId: string, id: string) {
    await this.#moderation.requireRole(actorId, 'moderator');
    await transaction(this.#db, async (trx) => {
      const tx = new ModerationRepository(trx);
      const report = await tx.lockReport(id);
      if (!report) throw reportNotFound();
      if (report.status !== 'resolved')
        throw new ConflictError('report_open', 'This report is open.');
      await tx.reopen(id);
      await this.#moderation.audit(trx, {
        actorId,
        action: 'report.reopened',
        targetId: report.account_id,
        reason: '',
        reportId: id,
        details: { action: report.action },
        notify: false,
      });
    });
    return this.get(actorId, id);
  }

  async addNote(actorId: string, id: string, rawText: string) {
    await this.#moderation.requireRole(actorId, 'moderator');
    const text = cleanText(rawText, '/text', { min: 1, max: NOTE_MAX, multiline: true });
    const repo = new ModerationRepository(this.#db);
    if (!(await repo.findReport(id))) throw reportNotFound();
    await repo.addNote({ id: newId(), report_id: id, author_id: actorId, text });
    return this.get(actorId, id);
  }

  /**
   * Resolves an open report with an action on what it names. Two moderators resolving the same
   * report: the report row is locked, the second gets 409 `report_resolved`. Deletions go
   * through the posts and comments services first (each in its own transaction; deleting what
   * is already gone is a no-op), then the report, the account action and the audit commit as one.
   */
  async resolve(actorId: string, id: string, action: ModerationAction, rawReason: string) {
    const actorRole = await this.#moderation.requireRole(actorId, 'moderator');
    const reason = cleanText(rawReason, '/reason', { min: 0, max: NOTE_MAX, multiline: true });
    const repo = new ModerationRepository(this.#db);
    const report = await repo.findReport(id);
    if (!report) throw reportNotFound();
    if (report.status === 'resolved') throw resolvedAlready();
    const removed =
      action === 'delete_content'
        ? await this.#moderation.removeContent({
            postIds: report.post_ids,
            commentIds: report.comment_ids,
          })
        : undefined;
    await transaction(this.#db, async (trx) => {
      const tx = new ModerationRepository(trx);
      const locked = await tx.lockReport(id);
      if (!locked) throw reportNotFound();
      if (locked.status === 'resolved') throw resolvedAlready();
      await tx.resolve(id, actorId, action, reason);
      if (action === 'suspend' || action === 'limit') {
        await this.#moderation.applyToAccount(trx, {
          actorId,
          actorRole,
          targetId: report.account_id,
          action,
          reason,
          reportId: id,
        });
      } else {
        await this.#moderation.audit(trx, {
          actorId,
          action: action === 'dismiss' ? 'report.dismissed' : 'delete_content',
          targetId: report.account_id,
          reason,
          reportId: id,
          details: removed ?? {},
          // The reported user hears of what was done to them, not of reports dismissed.
          notify: action === 'delete_content',
        });
      }
    });
    await this.#moderation.announce(report.account_id, action);
    return this.get(actorId, id);
  }
}

const resolvedAlready = () =>
  new ConflictError('report_resolved', 'This report has already been resolved.');
