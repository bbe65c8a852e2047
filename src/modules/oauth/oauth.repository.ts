import type { Insertable, Kysely, Selectable } from 'kysely';
import type { DB } from '../../infra/db/database.ts';
import type {
  OAuthAppRow,
  OAuthAppsTable,
  OAuthCodesTable,
  OAuthTokensTable,
} from '../../infra/db/schema.ts';

export type OAuthCodeRow = Selectable<OAuthCodesTable>;
export type OAuthTokenRow = Selectable<OAuthTokensTable>;

/** SQL for OAuth applications, authorization codes and access tokens. */
export class OAuthRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async insertApp(app: Insertable<OAuthAppsTable>): Promise<OAuthAppRow> {
    return this.#db.insertInto('oauth_apps').values(app).returningAll().executeTakeFirstOrThrow();
  }

  async findAppByClientId(clientId: string): Promise<OAuthAppRow | undefined> {
    return this.#db
      .selectFrom('oauth_apps')
      .selectAll()
      .where('client_id', '=', clientId)
      .executeTakeFirst();
  }

  async findAppById(id: string): Promise<OAuthAppRow | undefined> {
    return this.#db.selectFrom('oauth_apps').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertCode(code: Insertable<OAuthCodesTable>): Promise<void> {
    await this.#db.insertInto('oauth_codes').values(code).execute();
  }

  /** Deletes the code and returns it: of two requests racing with one code, one gets it. */
  async takeCode(codeHash: string): Promise<OAuthCodeRow | undefined> {
    return this.#db
      .deleteFrom('oauth_codes')
      .where('code_hash', '=', codeHash)
      .returningAll()
      .executeTakeFirst();
  }

  async purgeExpiredCodes(now: Date): Promise<void> {
    await this.#db.deleteFrom('oauth_codes').where('expires_at', '<', now).execute();
  }

  async insertToken(token: Insertable<OAuthTokensTable>): Promise<void> {
    await this.#db.insertInto('oauth_tokens').values(token).execute();
  }

  /** A live (unrevoked) token by hash. */
  async findLiveToken(tokenHash: string): Promise<OAuthTokenRow | undefined> {
    return this.#db
      .selectFrom('oauth_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
  }

  /** Marks the token revoked; whether it was live before. */
  async revokeToken(tokenHash: string, appId: string): Promise<boolean> {
    const rows = await this.#db
      .updateTable('oauth_tokens')
      .set({ revoked_at: new Date() })
      .where('token_hash', '=', tokenHash)
      .where('app_id', '=', appId)
      .where('revoked_at', 'is', null)
      .returning('id')
      .execute();
    return rows.length > 0;
  }

  async findToken(tokenHash: string): Promise<OAuthTokenRow | undefined> {
    return this.#db
      .selectFrom('oauth_tokens')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
  }
}
