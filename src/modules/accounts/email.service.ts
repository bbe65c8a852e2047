import type { Kysely } from 'kysely';
import { AppError, ConflictError } from '../../errors.ts';
import { isUniqueViolation } from '../../infra/db/database.ts';
import type { DB, UserRow } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { recordEvent } from '../../events/outbox.ts';
import { EmailTokensRepository } from './email-tokens.repository.ts';
import type { EmailTokenSigner } from './email-tokens.service.ts';
import { assertPasswordAcceptable, type PasswordHasher } from './passwords.ts';
import { SessionsRepository } from './sessions.repository.ts';
import { UsersRepository } from './users.repository.ts';
import { emailTaken } from './users.service.ts';

const wrongPassword = () =>
  new AppError(403, 'wrong_password', 'The current password is not correct.');

/**
 * Address verification, change of address and password reset. Requests only write a token and
 * an event (in one transaction); the mail consumer sends the mail, so mail never slows down or
 * fails the request that caused it.
 */
export class EmailService {
  readonly #db: Kysely<DB>;
  readonly #hasher: PasswordHasher;
  readonly #signer: EmailTokenSigner;

  constructor(db: Kysely<DB>, hasher: PasswordHasher, signer: EmailTokenSigner) {
    this.#db = db;
    this.#hasher = hasher;
    this.#signer = signer;
  }

  /** Spends a verification token: its address becomes the account's, verified. */
  async verify(token: string): Promise<UserRow> {
    const id = this.#signer.open(token, 'verify_email');
    try {
      return await transaction(this.#db, async (trx) => {
        const tokens = new EmailTokensRepository(trx);
        // Other links to the same address are done with; a pending change to another stays.
        const spent = await tokens.spend(id, 'verify_email', (t, other) => other.email === t.email);
        const users = new UsersRepository(trx);
        const before = await users.findById(spent.user_id);
        const user = await users.update(spent.user_id, {
          email: spent.email,
          email_verified_at: new Date(),
        });
        // A new address: reset links mailed to the old one stop working.
        if (before && before.email !== spent.email)
          await tokens.retire(spent.user_id, 'reset_password');
        return user!;
      });
    } catch (err) {
      // The new address was taken by another account since the link was sent.
      if (isUniqueViolation(err, 'users_email_key')) throw emailTaken();
      throw err;
    }
  }

  /** Mails a new verification link to the account's address. 409 when it is already verified. */
  async resend(userId: string): Promise<{ email: string }> {
    return transaction(this.#db, async (trx) => {
      const user = await new UsersRepository(trx).findById(userId);
      if (!user) throw new AppError(401, 'invalid_token', 'The account no longer exists.');
      if (user.email_verified_at) {
        throw new ConflictError('already_verified', 'Your e-mail address is already verified.');
      }
      await this.#request(trx, user.id, user.email, 'email.verification_requested');
      return { email: user.email };
    });
  }

  /**
   * Starts a change of address: the current password is required, and the new address replaces
   * the old one only once the link mailed to it is used.
   */
  async changeEmail(
    userId: string,
    newEmail: string,
    password: string,
  ): Promise<{ email: string }> {
    const email = newEmail.trim();
    const users = new UsersRepository(this.#db);
    const user = await users.findById(userId);
    if (!user) throw new AppError(401, 'invalid_token', 'The account no longer exists.');
    if (!(await this.#hasher.verify(password, user.password_hash))) throw wrongPassword();
    const owner = await users.findByLogin(email);
    if (owner?.id === userId && user.email === email && user.email_verified_at) {
      throw new ConflictError('same_email', 'That is already your verified address.');
    }
    if (owner && owner.id !== userId) throw emailTaken();
    await transaction(this.#db, (trx) =>
      this.#request(trx, userId, email, 'email.verification_requested'),
    );
    return { email };
  }

  /** Mails a reset link when the address belongs to an account; says nothing either way. */
  async requestPasswordReset(email: string): Promise<void> {
    const user = await new UsersRepository(this.#db).findByLogin(email.trim());
    if (!user || !email.includes('@')) return;
    await transaction(this.#db, (trx) =>
      this.#request(trx, user.id, user.email, 'password_reset.requested'),
    );
  }

  /** Spends a reset token: sets the password and ends every session of the account. */
  async confirmPasswordReset(token: string, password: string): Promise<void> {
    const id = this.#signer.open(token, 'reset_password');
    assertPasswordAcceptable(password, '/password');
    const password_hash = await this.#hasher.hash(password);
    await transaction(this.#db, async (trx) => {
      // Every other reset link of the account is spent with it.
      const spent = await new EmailTokensRepository(trx).spend(id, 'reset_password', () => true);
      await new UsersRepository(trx).update(spent.user_id, { password_hash });
      await new SessionsRepository(trx).revokeAllForUser(spent.user_id);
    });
  }

  async #request(
    trx: Kysely<DB>,
    userId: string,
    email: string,
    type: 'email.verification_requested' | 'password_reset.requested',
  ): Promise<void> {
    const purpose = type === 'password_reset.requested' ? 'reset_password' : 'verify_email';
    const tokenId = await new EmailTokensRepository(trx).create(userId, email, purpose);
    await recordEvent(trx, type, { user_id: userId, token_id: tokenId });
  }
}
