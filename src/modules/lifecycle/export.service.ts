import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AppError, ConflictError, NotFoundError } from '../../errors.ts';
import { recordEvent } from '../../events/outbox.ts';
import { newId } from '../../ids.ts';
import { isUniqueViolation } from '../../infra/db/database.ts';
import type { DB } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import type { Mailer } from '../../infra/mail/mailer.ts';
import type { MediaStorage } from '../../infra/storage/storage.ts';
import { ArchiveRepository } from './archive.repository.ts';
import type { ExportFiles } from './export-files.ts';
import type { TarEntry } from './export-tar.ts';
import { exportReadyMail } from './export-mail.ts';
import { ExportsRepository, type ExportRow } from './exports.repository.ts';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');
const exportNotFound = () =>
  new NotFoundError('export_not_found', 'No such export, or its link has expired.');

export interface ExportSettings {
  linkTtlHours: number;
  minIntervalHours: number;
  /** Where users reach the API: the mailed link starts with it. */
  publicUrl: () => string;
}

/**
 * The archive format; bump it when a field changes meaning. 2: a gzipped tar of
 * `kith-export.json` (the document) and `media/<id>.<ext>` (the files it lists under `media`).
 */
export const ARCHIVE_FORMAT = 'kith-export/2';

/** The document's name inside the archive. */
export const ARCHIVE_DOCUMENT = 'kith-export.json';

/** Data exports: asked for over HTTP, built by the worker, downloaded through a mailed link. */
export class ExportService {
  readonly #db: Kysely<DB>;
  readonly #files: ExportFiles;
  readonly #mailer: Mailer;
  readonly #media: MediaStorage;
  readonly #settings: ExportSettings;

  constructor(
    db: Kysely<DB>,
    deps: { files: ExportFiles; mailer: Mailer; media: MediaStorage },
    settings: ExportSettings,
  ) {
    this.#db = db;
    this.#files = deps.files;
    this.#mailer = deps.mailer;
    this.#media = deps.media;
    this.#settings = settings;
  }

  /** Starts an export: 409 while one is in progress, 429 within the minimum interval. */
  async request(userId: string): Promise<ExportRow> {
    try {
      return await transaction(this.#db, async (trx) => {
        const exports = new ExportsRepository(trx);
        const last = await exports.latest(userId);
        if (last?.status === 'pending') throw inProgress();
        const wait = last ? this.#secondsUntilAllowed(last.created_at) : 0;
        if (wait > 0) {
          throw new AppError(
            429,
            'export_rate_limited',
            `One export per ${this.#settings.minIntervalHours} h; retry in ${wait} s.`,
            { headers: { 'retry-after': String(wait) } },
          );
        }
        const row = await exports.insertPending(newId(), userId);
        await recordEvent(trx, 'export.requested', { export_id: row.id, user_id: userId });
        return row;
      });
    } catch (err) {
      // Two requests at once: the pending index lets one through.
      if (isUniqueViolation(err, 'data_exports_pending')) throw inProgress();
      throw err;
    }
  }

  async status(userId: string): Promise<ExportRow> {
    const row = await new ExportsRepository(this.#db).latest(userId);
    if (!row) throw new NotFoundError('no_export', 'You have not asked for an export.');
    return row;
  }

  /**
   * Builds a pending export, mails its link, then marks it ready: a redelivery after a crash
   * builds and mails again (the first link never worked). Nothing happens for one already done.
   */
  async build(exportId: string): Promise<void> {
    const exports = new ExportsRepository(this.#db);
    const row = await exports.findPending(exportId);
    if (!row) return;
    const archive = await this.collect(row.user_id);
    const { name: file, bytes } = await this.#files.write(this.#entries(archive));
    const token = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + this.#settings.linkTtlHours * 3_600_000);
    const url = `${this.#settings.publicUrl().replace(/\/$/, '')}/api/v1/exports/${token}`;
    try {
      await this.#mailer.send({
        to: archive.profile.email,
        messageId: `<export-${exportId}-${token.slice(0, 8)}@kith>`,
        ...exportReadyMail(archive.profile.display_name, url, expiresAt),
      });
      const marked = await exports.markReady(exportId, {
        tokenHash: hashToken(token),
        file,
        bytes,
        expiresAt,
      });
      if (!marked) await this.#files.remove([file]);
    } catch (err) {
      await this.#files.remove([file]);
      throw err;
    }
  }

  /** Everything about the user, as one JSON document. */
  async collect(userId: string) {
    const repo = new ArchiveRepository(this.#db);
    return {
      format: ARCHIVE_FORMAT,
      generated_at: new Date().toISOString(),
      profile: await repo.profile(userId),
      posts: await repo.posts(userId),
      comments: await repo.comments(userId),
      likes: await repo.likes(userId),
      following: await repo.people('follows', 'follower_id', 'followee_id', userId),
      followers: await repo.people('follows', 'followee_id', 'follower_id', userId),
      friends: await repo.people('friendships', 'user_id', 'friend_id', userId),
      friend_requests: await repo.friendRequests(userId),
      blocks: await repo.people('blocks', 'blocker_id', 'blocked_id', userId),
      mutes: await repo.people('mutes', 'muter_id', 'muted_id', userId),
      conversations: await repo.conversations(userId),
      notifications: await repo.notifications(userId),
      media: (await repo.media(userId)).map(({ key: _key, ...m }) => m),
    };
  }

  /** The document, then each media file it lists (read one at a time from the storage). */
  async *#entries(
    archive: Awaited<ReturnType<ExportService['collect']>>,
  ): AsyncGenerator<TarEntry> {
    const mtime = new Date(archive.generated_at);
    yield { name: ARCHIVE_DOCUMENT, data: Buffer.from(JSON.stringify(archive, null, 2)), mtime };
    const keys = new Map(
      (await new ArchiveRepository(this.#db).media(archive.profile.id)).map((m) => [m.id, m.key]),
    );
    for (const m of archive.media) {
      const key = keys.get(m.id);
      const data = key === undefined ? undefined : await this.#media.get(key);
      // A picture removed since the document was made: listed, its file no longer there.
      if (data) yield { name: m.file, data, mtime: new Date(m.created_at) };
    }
  }

  /** The archive behind a mailed link, while it works; 404 `export_not_found` otherwise. */
  async download(token: string): Promise<{ data: Buffer; createdAt: Date }> {
    const row = await new ExportsRepository(this.#db).findDownloadable(hashToken(token));
    if (!row?.file) throw exportNotFound();
    try {
      return { data: await this.#files.read(row.file), createdAt: row.created_at };
    } catch {
      throw exportNotFound();
    }
  }

  /** Housekeeping: expired links stop working and their archives are removed. */
  async purgeExpired(): Promise<number> {
    const files = await new ExportsRepository(this.#db).expireDue();
    await this.#files.remove(files);
    return files.length;
  }

  #secondsUntilAllowed(lastAt: Date): number {
    const next = lastAt.getTime() + this.#settings.minIntervalHours * 3_600_000;
    return Math.max(0, Math.ceil((next - Date.now()) / 1000));
  }
}

const inProgress = () =>
  new ConflictError('export_in_progress', 'An export is already being prepared.');
