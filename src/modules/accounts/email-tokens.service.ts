import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AppError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { DB, EmailTokenPurpose, EmailTokenRow } from '../../infra/db/schema.ts';

export const TOKEN_TTL_SECONDS: Record<EmailTokenPurpose, number> = {
  verify_email: 24 * 3600,
  reset_password: 3600,
};

export const linkInvalid = () =>
  new AppError(400, 'link_invalid', 'This link is not valid; ask for a new one.');
export const linkExpired = () =>
  new AppError(400, 'link_expired', 'This link has expired; ask for a new one.');
export const linkUsed = () => new AppError(400, 'link_used', 'This link has already been used.');

/**
 * Mailed tokens are `<row id>.<HMAC-SHA256 of purpose and id>`: signed, so a tampered or made-up
 * token is refused before any look-up, and backed by a row, so each is single-use and expires.
 * The table stores no secret: the signature is recomputed from the id when the mail is sent.
 */
export class EmailTokenSigner {
  readonly #key: Buffer;

  constructor(secret: string) {
    // A key of its own, derived from the application secret (access tokens use the secret itself).
    this.#key = createHmac('sha256', secret).update('kith email tokens v1').digest();
  }

  sign(id: string, purpose: EmailTokenPurpose): string {
    return `${id}.${this.#mac(id, purpose).toString('base64url')}`;
  }

  /** The row id inside a correctly signed token for `purpose`; 400 `link_invalid` otherwise. */
  open(token: string, purpose: EmailTokenPurpose): string {
    const [id, mac, extra] = token.trim().split('.');
    if (!id || !mac || extra !== undefined || !/^[0-9a-f-]{36}$/.test(id)) throw linkInvalid();
    const expected = this.#mac(id, purpose);
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw linkInvalid();
    return id;
  }

  #mac(id: string, purpose: EmailTokenPurpose): Buffer {
    return createHmac('sha256', this.#key).update(`${purpose}:${id}`).digest();
  }
}

/** SQL for mailed tokens. */
export class EmailTokensRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Removes tokens past their expiry (housekeeping). */
  async purgeExpired(now = new Date()): Promise<void> {
    await this.#db.deleteFrom('email_tokens').where('expires_at', '<', now).execute();
  }

  async create(userId: string, email: string, purpose: EmailTokenPurpose): Promise<string> {
    const id = newId();
    await this.#db
      .insertInto('email_tokens')
      .values({
        id,
        user_id: userId,
        email,
        purpose,
        expires_at: new Date(Date.now() + TOKEN_TTL_SECONDS[purpose] * 1000),
        used_at: null,
      })
      .execute();
    return id;
  }

  find(id: string, purpose: EmailTokenPurpose): Promise<EmailTokenRow | undefined> {
    return this.#db
      .selectFrom('email_tokens')
      .selectAll()
      .where('id', '=', id)
      .where('purpose', '=', purpose)
      .executeTakeFirst();
  }

  /**
   * Spends a token: checks it is unused and unexpired and marks it used, with the other unused
   * tokens it makes stale (`staleToo`). Every token of the user and purpose is locked first, in
   * id order, so two links used at once queue instead of deadlocking. Throws 400 otherwise.
   */
  async spend(
    id: string,
    purpose: EmailTokenPurpose,
    staleToo: (token: EmailTokenRow, other: EmailTokenRow) => boolean,
  ): Promise<EmailTokenRow> {
    const target = await this.find(id, purpose);
    if (!target) throw linkInvalid();
    const all = await this.#db
      .selectFrom('email_tokens')
      .selectAll()
      .where('user_id', '=', target.user_id)
      .where('purpose', '=', purpose)
      .orderBy('id')
      .forUpdate()
      .execute();
    const token = all.find((t) => t.id === id);
    if (!token) throw linkInvalid();
    if (token.used_at) throw linkUsed();
    if (token.expires_at.getTime() <= Date.now()) throw linkExpired();
    const spent = all.filter((t) => t.id === id || (!t.used_at && staleToo(token, t)));
    await this.markUsed(spent.map((t) => t.id));
    return token;
  }

  async markUsed(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#db
      .updateTable('email_tokens')
      .set({ used_at: new Date() })
      .where('id', 'in', ids)
      .where('used_at', 'is', null)
      .execute();
  }

  /** Unused tokens of the user for `purpose` (to retire them when the account changes). */
  async retire(userId: string, purpose: EmailTokenPurpose): Promise<void> {
    await this.#db
      .updateTable('email_tokens')
      .set({ used_at: new Date() })
      .where('user_id', '=', userId)
      .where('purpose', '=', purpose)
      .where('used_at', 'is', null)
      .execute();
  }
}
