import type { Kysely, Transaction } from 'kysely';
import {
  AppError,
  ConflictError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
  type FieldError,
} from '../../errors.ts';
import { newId } from '../../ids.ts';
import { isUniqueViolation, type DB } from '../../infra/db/database.ts';
import type { DmPolicy, UserRow } from '../../infra/db/schema.ts';
import type { Cache } from '../../infra/cache/cache.ts';
import { readManyThrough } from '../../infra/cache/read-through.ts';
import type { AccountStatusCache } from './account-status.cache.ts';
import { cleanText } from '../../text.ts';
import { assertPasswordAcceptable, type PasswordHasher } from './passwords.ts';
import { SessionsRepository } from './sessions.repository.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { recordEvent } from '../../events/outbox.ts';

import { UsersRepository, type ProfileRow } from './users.repository.ts';
import { normalizeUsername } from '../../text.ts';
import { EmailTokensRepository } from './email-tokens.repository.ts';
import { UserCards } from './user-cards.cache.ts';

export const MINIMUM_AGE = 13;
export const DISPLAY_NAME_MAX = 50;
export const BIO_MAX = 500;

export interface RegisterInput {
  username: string;
  email: string;
  password: string;
  dob: string;
  display_name?: string | undefined;
}

/** A user as others refer to them: enough to act on, list or mention them. */
export type UserRef = Pick<UserRow, 'id' | 'username' | 'display_name'>;

const REF_TTL_SECONDS = 600;
const refKey = (username: string) => `user-ref:${username}`;
const idKey = (id: string) => `user-id:${id}`;
const refOf = (u: UserRef): UserRef => ({
  id: u.id,
  username: u.username,
  display_name: u.display_name,
});
const userNotFound = (username: string) =>
  new NotFoundError('user_not_found', `No user named "${username}".`);

export interface ProfilePatch {
  display_name?: string | undefined;
  bio?: string | undefined;
  dm_policy?: DmPolicy | undefined;
}

/** `YYYY-MM-DD` of today minus `years`, in UTC: anyone born on or before it is old enough. */
function latestBirthDate(years: number, now = new Date()): string {
  const y = now.getUTCFullYear() - years;
  const md = now.toISOString().slice(4, 10);
  return `${String(y).padStart(4, '0')}${md}`;
}

function dobProblems(dob: string): FieldError[] {
  if (dob < '1900-01-01' || dob > new Date().toISOString().slice(0, 10)) {
    return [{ path: '/dob', code: 'out_of_range', message: 'must be a real date of birth' }];
  }
  if (dob > latestBirthDate(MINIMUM_AGE)) {
    return [
      {
        path: '/dob',
        code: 'too_young',
        message: `users must be at least ${MINIMUM_AGE} years old`,
      },
    ];
  }
  return [];
}

/** Collects every field problem of a registration, so the client sees them all at once. */
function registrationProblems(input: RegisterInput): FieldError[] {
  const problems = dobProblems(input.dob);
  for (const check of [
    () => assertPasswordAcceptable(input.password, '/password'),
    () =>
      input.display_name !== undefined &&
      cleanText(input.display_name, '/display_name', { min: 1, max: DISPLAY_NAME_MAX }),
  ]) {
    try {
      check();
    } catch (err) {
      if (err instanceof ValidationError && err.errors) problems.push(...err.errors);
      else throw err;
    }
  }
  return problems;
}

const usernameTaken = () => new ConflictError('username_taken', 'That username is already taken.');
export const emailTaken = () =>
  new ConflictError('email_taken', 'An account with that e-mail address already exists.');

/** Accounts and profiles: registration, look-up, search, profile and password changes. */
export class UsersService {
  readonly #db: Kysely<DB>;
  readonly #users: UsersRepository;
  readonly #hasher: PasswordHasher;
  readonly #cache: Cache;
  /** Whose things are hidden because they are suspended (lists resolve users through it). */
  readonly #status: AccountStatusCache | undefined;
  /** Users as shown beside their posts, from the cache. */
  readonly cards: UserCards;

  constructor(db: Kysely<DB>, hasher: PasswordHasher, cache: Cache, status?: AccountStatusCache) {
    this.#db = db;
    this.#status = status;
    this.#cache = cache;
    this.#users = new UsersRepository(db);
    this.#hasher = hasher;
    this.cards = new UserCards(cache, this.#users);
  }

  /**
   * Creates the account. `within`, when given, runs in the same transaction once the user row is
   * written, for a caller whose own rows must commit (or roll back) together with the account.
   */
  async register(
    input: RegisterInput,
    within?: (trx: Transaction<DB>, user: UserRow) => Promise<void>,
  ): Promise<UserRow> {
    const problems = registrationProblems(input);
    if (problems.length > 0) throw new ValidationError(problems);
    const username = normalizeUsername(input.username);
    const email = input.email.trim();
    // Checked first to spare a bcrypt hash; the unique indexes settle any race below.
    if (await this.#users.findByUsername(username)) throw usernameTaken();
    if (await this.#users.findByLogin(email)) throw emailTaken();
    const password_hash = await this.#hasher.hash(input.password);
    try {
      return await transaction(this.#db, async (trx) => {
        const user = await new UsersRepository(trx).insert({
          id: newId(),
          username,
          email,
          password_hash,
          display_name:
            input.display_name === undefined
              ? username
              : cleanText(input.display_name, '/display_name', { min: 1, max: DISPLAY_NAME_MAX }),
          dob: input.dob,
        });
        const tokenId = await new EmailTokensRepository(trx).create(user.id, email, 'verify_email');
        await recordEvent(trx, 'user.registered', {
          user_id: user.id,
          verification_token_id: tokenId,
        });
        await within?.(trx, user);
        return user;
      });
    } catch (err) {
      if (isUniqueViolation(err, 'users_username_key')) throw usernameTaken();
      if (isUniqueViolation(err, 'users_email_key')) throw emailTaken();
      throw err;
    }
  }

  async getById(id: string): Promise<UserRow> {
    const user = await this.#users.findById(id);
    // A valid token whose user is gone is treated like a bad token.
    if (!user) throw new UnauthorizedError('invalid_token', 'The account no longer exists.');
    return user;
  }

  /**
   * A profile as the viewer sees it, read from the database: counters cut to what the viewer
   * may list (see `UsersRepository.findProfile`). A user in a block with the viewer, either way,
   * is not found, exactly like a user who does not exist.
   */
  async getProfile(username: string, viewerId: string | null): Promise<ProfileRow> {
    const user = await this.#users.findProfile(username, viewerId);
    if (!user || user.blocked) throw userNotFound(username);
    if (user.suspended_at && user.id !== viewerId) throw userNotFound(username);
    return user;
  }

  /**
   * `resolve` for reading what belongs to the user (their lists, their posts): a user in a
   * block with the viewer, either way, is not found, like a user who does not exist.
   */
  async resolveVisible(username: string, viewerId: string | null): Promise<UserRef> {
    const user = await this.resolve(username);
    if (viewerId !== null && (await this.#users.inBlock(viewerId, user.id))) {
      throw userNotFound(username);
    }
    if (user.id !== viewerId && (await this.#status?.isSuspended(user.id))) {
      throw userNotFound(username);
    }
    return user;
  }

  /**
   * Who a username names, for acting on or listing them. Served from the cache: usernames never
   * change and the display name is invalidated when its owner edits it. Counters are never
   * cached, so they stay exact.
   */
  async resolve(username: string): Promise<UserRef> {
    const key = refKey(normalizeUsername(username));
    const cached = await this.#cache.get<UserRef>(key);
    if (cached) return cached;
    const user = await this.#users.findByUsername(username);
    // A deactivated account (deletion requested) is hidden like one that does not exist.
    if (!user || user.deactivated_at) throw userNotFound(username);
    const ref = refOf(user);
    await this.#cache.set(key, ref, REF_TTL_SECONDS);
    return ref;
  }

  /** References by id (the authors of a page of posts): one cache round trip, misses in one query. */
  refsById(ids: readonly string[]): Promise<Map<string, UserRef>> {
    return readManyThrough(
      this.#cache,
      ids,
      idKey,
      async (missing) =>
        new Map(
          (await this.#users.findManyByIds(missing))
            // Suspended users are left out: what they wrote is hidden from everyone else.
            .filter((r) => !r.suspended_at)
            .map((r) => [r.id, refOf(r)]),
        ),
      REF_TTL_SECONDS,
    );
  }

  /**
   * References by username (the people a page of posts mentions): one cache round trip, misses
   * in one query; names of no one, and deactivated accounts, are left out.
   */
  refsByUsernames(usernames: readonly string[]): Promise<Map<string, UserRef>> {
    return readManyThrough(
      this.#cache,
      usernames.map(normalizeUsername),
      refKey,
      async (missing) =>
        new Map(
          (await this.#users.findManyByUsernames(missing))
            .filter((r) => !r.deactivated_at)
            .map((r) => [r.username, refOf(r)]),
        ),
      REF_TTL_SECONDS,
    );
  }

  /** Drops what is cached of a user whose standing or pictures changed (suspended, restored). */
  async forget(userId: string): Promise<void> {
    await Promise.all([this.#cache.delete(idKey(userId)), this.cards.forget(userId)]);
  }

  /** Users by username prefix, leaving out those in a block with the viewer. */
  search(
    viewerId: string | null,
    prefix: string,
    afterUsername: string | undefined,
    limit: number,
  ): Promise<UserRow[]> {
    return this.#users.searchByPrefix(prefix, afterUsername, limit, viewerId);
  }

  async updateProfile(userId: string, patch: ProfilePatch): Promise<UserRow> {
    const changes: { display_name?: string; bio?: string; dm_policy?: DmPolicy } = {};
    if (patch.dm_policy !== undefined) changes.dm_policy = patch.dm_policy;
    if (patch.display_name !== undefined) {
      changes.display_name = cleanText(patch.display_name, '/display_name', {
        min: 1,
        max: DISPLAY_NAME_MAX,
      });
    }
    if (patch.bio !== undefined) {
      changes.bio = cleanText(patch.bio, '/bio', { min: 0, max: BIO_MAX, multiline: true });
    }
    if (Object.keys(changes).length === 0) return this.getById(userId);
    const user = await this.#users.update(userId, changes);
    if (!user) throw new UnauthorizedError('invalid_token', 'The account no longer exists.');
    await Promise.all([
      this.#cache.delete(refKey(user.username), idKey(user.id)),
      this.cards.forget(user.id),
    ]);
    return user;
  }

  /** The user, once `password` is theirs (a grave action asks for it); 403 `wrong_password`. */
  async confirmPassword(userId: string, password: string): Promise<UserRow> {
    const user = await this.getById(userId);
    if (!(await this.#hasher.verify(password, user.password_hash))) {
      throw new AppError(403, 'wrong_password', 'The password is not correct.');
    }
    return user;
  }

  /** Checks the current password, stores the new one, and ends every other session. */
  async changePassword(
    userId: string,
    sessionId: string,
    current: string,
    next: string,
  ): Promise<void> {
    assertPasswordAcceptable(next, '/new_password');
    const user = await this.getById(userId);
    if (!(await this.#hasher.verify(current, user.password_hash))) {
      throw new AppError(403, 'wrong_password', 'The current password is not correct.');
    }
    const password_hash = await this.#hasher.hash(next);
    await this.#db.transaction().execute(async (trx) => {
      await new UsersRepository(trx).update(userId, { password_hash });
      await new SessionsRepository(trx).revokeAllForUser(userId, sessionId);
    });
  }
}
