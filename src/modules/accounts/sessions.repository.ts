import type { Kysely } from 'kysely';
import type { DB, RefreshTokenRow } from '../../infra/db/schema.ts';

/** SQL for refresh tokens (stored as SHA-256 hashes, grouped in families per login). */
export class SessionsRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async insert(row: {
    id: string;
    user_id: string;
    family_id: string;
    token_hash: string;
    expires_at: Date;
  }): Promise<void> {
    await this.#db.insertInto('refresh_tokens').values(row).execute();
  }

  /** Locks the row so two concurrent refreshes with one token cannot both rotate it. */
  findByHashForUpdate(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    return this.#db
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .forUpdate()
      .executeTakeFirst();
  }

  findByHash(tokenHash: string): Promise<RefreshTokenRow | undefined> {
    return this.#db
      .selectFrom('refresh_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
  }

  async markRotated(id: string): Promise<void> {
    await this.#db
      .updateTable('refresh_tokens')
      .set({ rotated_at: new Date() })
      .where('id', '=', id)
      .execute();
  }

  async revokeFamily(familyId: string): Promise<void> {
    await this.#db
      .updateTable('refresh_tokens')
      .set({ revoked_at: new Date() })
      .where('family_id', '=', familyId)
      .where('revoked_at', 'is', null)
      .execute();
  }

  /** Revokes every session of the user, except `keepFamilyId` when given. */
  async revokeAllForUser(userId: string, keepFamilyId?: string): Promise<void> {
    let q = this.#db
      .updateTable('refresh_tokens')
      .set({ revoked_at: new Date() })
      .where('user_id', '=', userId)
      .where('revoked_at', 'is', null);
    if (keepFamilyId) q = q.where('family_id', '!=', keepFamilyId);
    await q.execute();
  }
}
