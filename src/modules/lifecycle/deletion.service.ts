import type { Kysely } from 'kysely';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import type { UsersService } from '../accounts/users.service.ts';
import { SessionsRepository } from '../accounts/sessions.repository.ts';
import { DeletionsRepository } from './deletions.repository.ts';

/**
 * Account deletion as the user asks for it: checked by password, the account is deactivated at
 * once (every session ended, profile hidden) and erased by the worker after the grace period.
 */
export class DeletionService {
  readonly #db: Kysely<DB>;
  readonly #users: UsersService;
  readonly #cache: Cache;
  readonly #graceDays: number;
  /**
   * Tells every API node the account is deactivated (after the commit): their token checks
   * refuse it from then on and its open streams close (see AccountStatusCache).
   */
  readonly #signedOut: (userId: string) => Promise<void>;

  constructor(
    db: Kysely<DB>,
    deps: { users: UsersService; cache: Cache; graceDays: number },
    signedOut: (userId: string) => Promise<void>,
  ) {
    this.#db = db;
    this.#users = deps.users;
    this.#cache = deps.cache;
    this.#graceDays = deps.graceDays;
    this.#signedOut = signedOut;
  }

  /** Deactivates the account and schedules its erasure; the date it will be erased. */
  async request(userId: string, password: string): Promise<Date> {
    const user = await this.#users.confirmPassword(userId, password);
    const eraseAfter = new Date(Date.now() + this.#graceDays * 86_400_000);
    const scheduled = await transaction(this.#db, async (trx) => {
      const at = await new DeletionsRepository(trx).schedule(userId, eraseAfter);
      await new SessionsRepository(trx).revokeAllForUser(userId);
      return at;
    });
    await this.#signedOut(userId);
    // Profile look-ups are cached by name and id: hide the account from them now.
    await this.#cache.delete(`user-ref:${user.username}`, `user-id:${user.id}`);
    return scheduled;
  }

  /** Where a deletion stands (for the owner, who can only ask by logging in again). */
  find(userId: string) {
    return new DeletionsRepository(this.#db).find(userId);
  }
}
