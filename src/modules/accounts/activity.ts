import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { UnauthorizedError } from '../../errors.ts';
import type { DB } from '../../infra/db/schema.ts';
import { UsersRepository } from './users.repository.ts';

const EVERY_MS = 60 * 60 * 1000;

/**
 * Records when users were last active (any authenticated request), at most once an hour per user
 * and process, so an active user costs one small UPDATE an hour. Fan-out skips the idle. The
 * UPDATE also tells whether the account still exists: a correctly signed token for a user who is
 * not there (deleted, or another database) is refused with 401 before any route runs.
 */
export class ActivityTracker {
  readonly #users: UsersRepository;
  readonly #recent = new LRUCache<string, true>({ max: 100_000, ttl: EVERY_MS });

  constructor(db: Kysely<DB>) {
    this.#users = new UsersRepository(db);
  }

  /** Checks the account again on its next request (it was just deactivated or suspended). */
  forget(userId: string): void {
    this.#recent.delete(userId);
  }

  async touch(userId: string): Promise<void> {
    if (this.#recent.has(userId)) return;
    this.#recent.set(userId, true);
    try {
      if (!(await this.#users.touchActive(userId))) {
        throw new UnauthorizedError('invalid_token', 'The account no longer exists.');
      }
    } catch (err) {
      this.#recent.delete(userId);
      throw err;
    }
  }
}
