import type { Kysely } from 'kysely';
import { newId } from '../../ids.ts';
import type { DB, EmailTokenPurpose, EmailTokenRow } from '../../infra/db/schema.ts';
import { linkExpired, linkInvalid, linkUsed, TOKEN_TTL_SECONDS } from './email-tokens.service.ts';

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
