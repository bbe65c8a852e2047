import { sql, type Kysely } from 'kysely';
import type { DB, DataExportsTable } from '../../infra/db/schema.ts';
import type { Selectable } from 'kysely';

export type ExportRow = Selectable<DataExportsTable>;

/** SQL for data exports (the `data_exports` table). */
export class ExportsRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** Fails with a unique violation (`data_exports_pending`) while one is in progress. */
  async insertPending(id: string, userId: string): Promise<ExportRow> {
    return this.#db
      .insertInto('data_exports')
      .values({ id, user_id: userId, status: 'pending' })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** The user's newest export, whatever its state. */
  latest(userId: string): Promise<ExportRow | undefined> {
    return this.#db
      .selectFrom('data_exports')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  findPending(id: string): Promise<ExportRow | undefined> {
    return this.#db
      .selectFrom('data_exports')
      .selectAll()
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
  }

  /** False when the export was no longer pending (built by another delivery meanwhile). */
  async markReady(
    id: string,
    ready: { tokenHash: string; file: string; bytes: number; expiresAt: Date },
  ): Promise<boolean> {
    const { numUpdatedRows } = await this.#db
      .updateTable('data_exports')
      .set({
        status: 'ready',
        token_hash: ready.tokenHash,
        file: ready.file,
        bytes: ready.bytes,
        ready_at: new Date(),
        expires_at: ready.expiresAt,
      })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return numUpdatedRows > 0n;
  }

  async markFailed(id: string): Promise<void> {
    await this.#db
      .updateTable('data_exports')
      .set({ status: 'failed' })
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .execute();
  }

  /** A ready export by its link's hash, while the link works. */
  findDownloadable(tokenHash: string): Promise<ExportRow | undefined> {
    return this.#db
      .selectFrom('data_exports')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .where('status', '=', 'ready')
      .where('expires_at', '>', sql<Date>`now()`)
      .executeTakeFirst();
  }

  /** Marks exports past their link's expiry as expired; their files, to remove. */
  async expireDue(): Promise<string[]> {
    const due = await this.#db
      .selectFrom('data_exports')
      .select(['id', 'file'])
      .where('status', '=', 'ready')
      .where('expires_at', '<=', sql<Date>`now()`)
      .execute();
    if (due.length === 0) return [];
    await this.#db
      .updateTable('data_exports')
      .set({ status: 'expired', token_hash: null, file: null })
      .where(
        'id',
        'in',
        due.map((d) => d.id),
      )
      .execute();
    return due.map((d) => d.file).filter((f): f is string => f !== null);
  }

  async filesOf(userId: string): Promise<string[]> {
    const rows = await this.#db
      .selectFrom('data_exports')
      .select('file')
      .where('user_id', '=', userId)
      .where('file', 'is not', null)
      .execute();
    return rows.map((r) => r.file!);
  }
}
