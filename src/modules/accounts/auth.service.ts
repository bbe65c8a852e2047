import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { UnauthorizedError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { DB } from '../../infra/db/database.ts';
import type { UserRow } from '../../infra/db/schema.ts';
import type { AccessTokens } from './access-tokens.ts';
import type { PasswordHasher } from './passwords.ts';
import { SessionsRepository } from './sessions.repository.ts';
import { accountSuspended } from './account-status.cache.ts';
import { UsersRepository } from './users.repository.ts';
import { normalizeUsername } from '../../text.ts';
import { transaction } from '../../infra/db/transaction.ts';

export interface TokenPair {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
}

export interface Session {
  user: UserRow;
  tokens: TokenPair;
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

const badRefresh = (code: string, message: string) => new UnauthorizedError(code, message);

/**
 * Login sessions. A login starts a token family; each refresh rotates the refresh token within
 * it. Presenting a token that was already rotated means it leaked: the whole family is revoked.
 */
export class AuthService {
  readonly #db: Kysely<DB>;
  readonly #users: UsersRepository;
  readonly #hasher: PasswordHasher;
  readonly #access: AccessTokens;
  readonly #refreshTtlSeconds: number;
  readonly #reactivated: (userId: string) => Promise<void>;

  constructor(
    db: Kysely<DB>,
    hasher: PasswordHasher,
    access: AccessTokens,
    refreshTtlSeconds: number,
    /** Tells every node a deletion was cancelled (their cached status says deactivated). */
    reactivated: (userId: string) => Promise<void> = async () => {},
  ) {
    this.#reactivated = reactivated;
    this.#db = db;
    this.#users = new UsersRepository(db);
    this.#hasher = hasher;
    this.#access = access;
    this.#refreshTtlSeconds = refreshTtlSeconds;
  }

  /**
   * Whom login attempts with `login` are counted against: the account it names (by username or
   * e-mail, in any spelling that finds it), else the normalised text itself.
   */
  async loginSubject(login: string): Promise<string> {
    const user = await this.#users.findByLogin(login.trim());
    return user ? `user:${user.id}` : `login:${normalizeUsername(login.trim())}`;
  }

  /** Same answer for an unknown login and a wrong password, in about the same time. */
  async login(login: string, password: string): Promise<Session> {
    const user = await this.verifyCredentials(login, password);
    const tokens = await this.#issue(new SessionsRepository(this.#db), user.id, newId());
    return { user, tokens };
  }

  /**
   * The user a login and password name, without starting a session (OAuth sign-in); the same
   * answer for an unknown login and a wrong password, in about the same time.
   */
  async verifyCredentials(login: string, password: string): Promise<UserRow> {
    const user = await this.#users.findByLogin(login.trim());
    const ok = await this.#hasher.verify(password, user?.password_hash);
    if (!user || !ok) {
      throw new UnauthorizedError('invalid_credentials', 'The login or password is not correct.');
    }
    // Said only to whoever knows the password: to anyone else the account is like any other.
    if (user.suspended_at) throw accountSuspended();
    // Logging in during a deletion's grace period cancels it; after it, the account is going.
    if (
      user.deactivated_at &&
      !(await transaction(this.#db, (trx) => new UsersRepository(trx).reactivate(user.id)))
    ) {
      throw new UnauthorizedError('account_deleted', 'This account is being deleted.');
    }
    if (user.deactivated_at) await this.#reactivated(user.id);
    return user;
  }

  async refresh(refreshToken: string): Promise<Session> {
    type Outcome = { error: UnauthorizedError } | { userId: string; tokens: TokenPair };
    const outcome = await this.#db.transaction().execute(async (trx): Promise<Outcome> => {
      const sessions = new SessionsRepository(trx);
      const row = await sessions.findByHashForUpdate(hashToken(refreshToken));
      if (!row)
        return { error: badRefresh('invalid_refresh_token', 'The refresh token is not valid.') };
      if (row.revoked_at) {
        return {
          error: badRefresh('refresh_token_revoked', 'The refresh token has been revoked.'),
        };
      }
      if (row.rotated_at) {
        // Reuse: committed before answering, so the revocation sticks.
        await sessions.revokeFamily(row.family_id);
        return {
          error: badRefresh(
            'refresh_token_reused',
            'The refresh token was already used; the session has been ended.',
          ),
        };
      }
      if (row.expires_at.getTime() <= Date.now()) {
        return { error: badRefresh('refresh_token_expired', 'The refresh token has expired.') };
      }
      await sessions.markRotated(row.id);
      const tokens = await this.#issue(sessions, row.user_id, row.family_id);
      return { userId: row.user_id, tokens };
    });
    if ('error' in outcome) throw outcome.error;
    const user = await this.#users.findById(outcome.userId);
    if (!user) throw badRefresh('invalid_refresh_token', 'The refresh token is not valid.');
    if (user.suspended_at) throw accountSuspended();
    return { user, tokens: outcome.tokens };
  }

  /** Ends the session the refresh token belongs to. Unknown tokens are ignored (idempotent). */
  async logout(refreshToken: string): Promise<void> {
    const sessions = new SessionsRepository(this.#db);
    const row = await sessions.findByHash(hashToken(refreshToken));
    if (row) await sessions.revokeFamily(row.family_id);
  }

  async #issue(sessions: SessionsRepository, userId: string, familyId: string): Promise<TokenPair> {
    const refresh = randomBytes(32).toString('base64url');
    await sessions.insert({
      id: newId(),
      user_id: userId,
      family_id: familyId,
      token_hash: hashToken(refresh),
      expires_at: new Date(Date.now() + this.#refreshTtlSeconds * 1000),
    });
    return {
      access_token: await this.#access.sign({ userId, sessionId: familyId }),
      token_type: 'Bearer',
      expires_in: this.#access.ttlSeconds,
      refresh_token: refresh,
      refresh_expires_in: this.#refreshTtlSeconds,
    };
  }
}
