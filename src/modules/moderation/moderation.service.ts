import type { Kysely } from 'kysely';
import { AppError, ConflictError, ForbiddenError, NotFoundError } from '../../errors.ts';
import { recordEvent } from '../../events/outbox.ts';
import { newId } from '../../ids.ts';
import type { EventBus } from '../../infra/bus/bus.ts';
import type { DB, UserRole, UserRow } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import type { Logger } from '../../logger.ts';
import type { AccountStatusCache } from '../accounts/account-status.cache.ts';
import type { UsersService } from '../accounts/users.service.ts';
import { SessionsRepository } from '../accounts/sessions.repository.ts';
import type { CommentsService } from '../comments/comments.service.ts';
import type { PostsService } from '../posts/posts.service.ts';
import { ModerationRepository } from './moderation.repository.ts';

/** What a moderator can do to an account outside a report (and, some of it, through one). */
export type AccountAction = 'suspend' | 'unsuspend' | 'limit' | 'unlimit';

const RANK: Record<UserRole, number> = { user: 0, moderator: 1, admin: 2 };

export const userNotFound = (username: string) =>
  new NotFoundError('user_not_found', `No user named "${username}".`);

/**
 * Roles and moderator actions on accounts. Every action is checked against the actor's role as
 * the database says it now (a revoked moderator loses their rights at their next request), is
 * written to the audit log in the same transaction, and tells the affected user through an event.
 */
export class ModerationService {
  readonly #db: Kysely<DB>;
  readonly #bus: EventBus;
  readonly #status: AccountStatusCache;
  readonly #posts: PostsService;
  readonly #comments: CommentsService;
  readonly #log: Logger;
  readonly #users: UsersService | undefined;

  constructor(deps: {
    db: Kysely<DB>;
    bus: EventBus;
    status: AccountStatusCache;
    posts: PostsService;
    comments: CommentsService;
    log: Logger;
    /** Its cached author references hide suspended users from feeds read from memory. */
    users?: UsersService;
  }) {
    this.#users = deps.users;
    this.#db = deps.db;
    this.#bus = deps.bus;
    this.#status = deps.status;
    this.#posts = deps.posts;
    this.#comments = deps.comments;
    this.#log = deps.log;
  }

  /** The actor's role when it is at least `needed`; 403 `moderator_only` / `admin_only` if not. */
  async requireRole(actorId: string, needed: 'moderator' | 'admin'): Promise<UserRole> {
    const role = (await new ModerationRepository(this.#db).roleOf(actorId))?.role ?? 'user';
    if (RANK[role] < RANK[needed]) {
      throw new ForbiddenError(
        `${needed}_only`,
        needed === 'admin' ? 'Only an admin may do this.' : 'Only moderators may do this.',
      );
    }
    return role;
  }

  /**
   * Sets a user's role. Through the API (`actorId` set) an admin grants or revokes moderator
   * only; admins are made and unmade from the command line (`actorId` null), where whoever runs
   * it already holds the server.
   */
  async setRole(actorId: string | null, username: string, role: UserRole): Promise<UserRow> {
    if (actorId !== null) {
      await this.requireRole(actorId, 'admin');
      if (role === 'admin')
        throw new ForbiddenError(
          'admin_grant_cli_only',
          'Admins are made with `kith admin grant`.',
        );
    }
    return transaction(this.#db, async (trx) => {
      const repo = new ModerationRepository(trx);
      const found = await repo.findUserByUsername(username);
      const target = found && (await repo.lockUser(found.id));
      if (!target) throw userNotFound(username);
      if (actorId !== null && target.role === 'admin')
        throw new ForbiddenError(
          'admin_grant_cli_only',
          'Admins are unmade with `kith admin revoke`.',
        );
      if (target.role !== role) {
        await repo.setUser(target.id, { role });
        await repo.audit({
          id: newId(),
          moderator_id: actorId,
          action: 'role.set',
          target_user_id: target.id,
          details: { from: target.role, to: role, via: actorId === null ? 'cli' : 'api' },
        });
      }
      return { ...target, role };
    });
  }

  /** The account with this id, suspended or not, for moderators (404 `user_not_found`). */
  async accountById(actorId: string, id: string): Promise<UserRow> {
    await this.requireRole(actorId, 'moderator');
    const user = await new ModerationRepository(this.#db).findUserById(id);
    if (!user) throw new NotFoundError('user_not_found', 'No such account.');
    return user;
  }

  /** An action on the account named `username`, outside any report. */
  async act(actorId: string, username: string, action: AccountAction, reason: string) {
    const actorRole = await this.requireRole(actorId, 'moderator');
    const target = await new ModerationRepository(this.#db).findUserByUsername(username);
    if (!target) throw userNotFound(username);
    await transaction(this.#db, (trx) =>
      this.applyToAccount(trx, { actorId, actorRole, targetId: target.id, action, reason }),
    );
    await this.announce(target.id, action);
    return new ModerationRepository(this.#db).findUserByUsername(username) as Promise<UserRow>;
  }

  /**
   * Applies `action` to the account inside the caller's transaction, with its audit entry and
   * the event that tells the user. The caller runs `announce` after the commit.
   */
  async applyToAccount(
    trx: Kysely<DB>,
    a: {
      actorId: string;
      actorRole: UserRole;
      targetId: string;
      action: AccountAction;
      reason: string;
      reportId?: string;
    },
  ): Promise<void> {
    const repo = new ModerationRepository(trx);
    const target = await repo.lockUser(a.targetId);
    if (!target) throw new NotFoundError('user_not_found', 'The account no longer exists.');
    this.#mayActOn(a.actorId, a.actorRole, target);
    const now = new Date();
    switch (a.action) {
      case 'suspend':
        if (target.suspended_at) throw new ConflictError('already_suspended', 'Already suspended.');
        await repo.setUser(target.id, { suspended_at: now, sessions_revoked_at: now });
        // Refresh tokens die here; access tokens are refused by every node's status check.
        await new SessionsRepository(trx).revokeAllForUser(target.id);
        break;
      case 'unsuspend':
        if (!target.suspended_at) throw new ConflictError('not_suspended', 'Not suspended.');
        await repo.setUser(target.id, { suspended_at: null });
        break;
      case 'limit':
        if (target.limited_at) throw new ConflictError('already_limited', 'Already limited.');
        await repo.setUser(target.id, { limited_at: now });
        break;
      case 'unlimit':
        if (!target.limited_at) throw new ConflictError('not_limited', 'Not limited.');
        await repo.setUser(target.id, { limited_at: null });
        break;
    }
    await this.#audit(trx, a.actorId, a.action, target.id, a.reason, a.reportId);
  }

  /**
   * Deletes posts and comments through their services (counters and events as for their
   * author's own deletion); those already gone are skipped. The caller audits.
   */
  async removeContent(a: { postIds: readonly string[]; commentIds: readonly string[] }) {
    const removed = { posts: [] as string[], comments: [] as string[] };
    for (const id of a.postIds) if (await this.#posts.removeByModerator(id)) removed.posts.push(id);
    for (const id of a.commentIds)
      if (await this.#comments.removeByModerator(id)) removed.comments.push(id);
    return removed;
  }

  /** Writes the audit entry and the event that tells the affected user. */
  async #audit(
    trx: Kysely<DB>,
    actorId: string,
    action: string,
    targetId: string,
    reason: string,
    reportId?: string,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    const id = newId();
    await new ModerationRepository(trx).audit({
      id,
      moderator_id: actorId,
      action,
      target_user_id: targetId,
      report_id: reportId ?? null,
      reason,
      details,
    });
    await recordEvent(trx, 'moderation.action_taken', { audit_id: id, user_id: targetId });
  }

  /** Audits an action whose effect happened elsewhere (a report resolved by deletion, a dismissal). */
  audit(
    trx: Kysely<DB>,
    e: {
      actorId: string;
      action: string;
      targetId: string;
      reason: string;
      reportId: string;
      details?: Record<string, unknown>;
      notify: boolean;
    },
  ) {
    if (e.notify)
      return this.#audit(trx, e.actorId, e.action, e.targetId, e.reason, e.reportId, e.details);
    return new ModerationRepository(trx).audit({
      id: newId(),
      moderator_id: e.actorId,
      action: e.action,
      target_user_id: e.targetId,
      report_id: e.reportId,
      reason: e.reason,
      details: e.details ?? {},
    });
  }

  /** After the commit: a (un)suspension reaches every API node's status cache and streams. */
  async announce(userId: string, action: AccountAction | 'dismiss' | 'delete_content') {
    if (action !== 'suspend' && action !== 'unsuspend') return;
    await this.#users?.forget(userId).catch((err: unknown) => {
      this.#log.warn({ err, user_id: userId }, 'could not drop the cached author reference');
    });
    await this.#status
      .announce(this.#bus, { user_id: userId, suspended: action === 'suspend' })
      .catch((err: unknown) => {
        // Nodes still read the status again within the cache's lifetime.
        this.#log.warn({ err, user_id: userId }, 'account status broadcast failed');
      });
  }

  /** The audit log, newest first. */
  async auditLog(actorId: string, f: { target?: string; beforeId?: string; limit: number }) {
    await this.requireRole(actorId, 'moderator');
    const repo = new ModerationRepository(this.#db);
    let targetId: string | undefined;
    if (f.target !== undefined) {
      const target = await repo.findUserByUsername(f.target);
      if (!target) throw userNotFound(f.target);
      targetId = target.id;
    }
    return repo.listAudit({ targetId, beforeId: f.beforeId, limit: f.limit });
  }

  #mayActOn(actorId: string, actorRole: UserRole, target: UserRow): void {
    if (target.id === actorId)
      throw new AppError(400, 'cannot_target_self', 'You cannot moderate your own account.');
    // Staff answer to admins; admins answer to whoever holds the server (the command line).
    if (target.role === 'admin' || (target.role === 'moderator' && actorRole !== 'admin'))
      throw new ForbiddenError('cannot_moderate_staff', 'This account is staff: ask an admin.');
  }
}
