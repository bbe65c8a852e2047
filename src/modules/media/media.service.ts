import type { Kysely } from 'kysely';
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import type { DB, MediaRow } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { recordEvent } from '../../events/outbox.ts';
import { newMediaKey, type MediaStorage } from '../../infra/storage/storage.ts';
import { newId } from '../../ids.ts';
import { cleanText } from '../../text.ts';
import type { ImageProcessor, ProcessedImage } from './image-processor.ts';
import { MediaRepository } from './media.repository.ts';
import { mediaErrors } from './media.errors.ts';
import { CONTENT_TYPES } from '../../infra/storage/storage.ts';

export const DESCRIPTION_MAX = 1_500;

export interface MediaDetails {
  description?: string | undefined;
  /** Mastodon's focal point: "x,y", each from -1 to 1 (0,0 is the centre). */
  focus?: string | undefined;
}

export const mediaNotFound = () => new NotFoundError('media_not_found', 'No such media.');

/** Parses a focal point "x,y" (each -1..1); a 400 naming `path` otherwise. */
export function parseFocus(raw: string, path = '/focus'): { focus_x: number; focus_y: number } {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$/.exec(raw);
  const [x, y] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
  if (!(Math.abs(x) <= 1 && Math.abs(y) <= 1)) {
    throw new ValidationError([{ path, message: 'must be "x,y" with each from -1 to 1' }]);
  }
  return { focus_x: x, focus_y: y };
}

function detailsOf(input: MediaDetails) {
  return {
    ...(input.description === undefined
      ? {}
      : {
          description: cleanText(input.description, '/description', {
            min: 0,
            max: DESCRIPTION_MAX,
            multiline: true,
          }),
        }),
    ...(input.focus === undefined ? {} : parseFocus(input.focus)),
  };
}

/**
 * Uploads: processed, stored, then recorded. Files are written before the row, so a refused or
 * failed upload leaves nothing behind (its files are removed before the error goes out); files
 * of deleted media are removed by the media consumer after the deletion commits.
 */
export class MediaService {
  readonly #db: Kysely<DB>;
  readonly #storage: MediaStorage;
  readonly #processor: ImageProcessor;
  readonly #onPostChanged: (postId: string) => Promise<void>;

  constructor(
    db: Kysely<DB>,
    storage: MediaStorage,
    processor: ImageProcessor,
    onPostChanged: (postId: string) => Promise<void>,
  ) {
    this.#db = db;
    this.#storage = storage;
    this.#processor = processor;
    this.#onPostChanged = onPostChanged;
  }

  async upload(ownerId: string, bytes: Buffer, input: MediaDetails): Promise<MediaRow> {
    const details = detailsOf(input); // before the work: a bad field costs no processing
    const image = await this.#processor.process(bytes);
    return this.#store(ownerId, image, details);
  }

  /** Stores processed pictures and their row; on any failure, removes what it wrote. */
  async #store(
    ownerId: string,
    image: ProcessedImage,
    details: ReturnType<typeof detailsOf>,
  ): Promise<MediaRow> {
    const prefix = newMediaKey();
    const original_key = `${prefix}.${image.format}`;
    const preview_key = `${prefix}-small.webp`;
    const contentType = CONTENT_TYPES[image.format]!;
    try {
      await Promise.all([
        this.#storage.put(original_key, image.original.bytes, contentType),
        this.#storage.put(preview_key, image.preview.bytes, 'image/webp'),
      ]);
      return await new MediaRepository(this.#db).insert({
        id: newId(),
        owner_id: ownerId,
        original_key,
        preview_key,
        url: this.#storage.url(original_key),
        preview_url: this.#storage.url(preview_key),
        content_type: contentType,
        width: image.original.width,
        height: image.original.height,
        preview_width: image.preview.width,
        preview_height: image.preview.height,
        blurhash: image.blurhash,
        ...details,
        deleted_at: null,
      });
    } catch (err) {
      await this.#storage.delete([original_key, preview_key]);
      throw err;
    }
  }

  async get(ownerId: string, id: string): Promise<MediaRow> {
    const row = await new MediaRepository(this.#db).findOwned(id, ownerId);
    if (!row) throw mediaNotFound();
    return row;
  }

  async update(ownerId: string, id: string, input: MediaDetails): Promise<MediaRow> {
    const details = detailsOf(input);
    await this.get(ownerId, id);
    const row = await new MediaRepository(this.#db).update(id, details);
    if (!row) throw mediaNotFound();
    // The post's cached copy shows the old description.
    if (row.post_id) await this.#onPostChanged(row.post_id);
    return row;
  }

  /** Deletes an upload not attached to a post (attached ones go with their post or an edit). */
  async delete(ownerId: string, id: string): Promise<void> {
    await transaction(this.#db, async (trx) => {
      const repo = new MediaRepository(trx);
      const [row] = await repo.lockMany([id]);
      if (!row || row.owner_id !== ownerId || row.deleted_at || row.purpose !== 'attachment')
        throw mediaNotFound();
      if (row.post_id) {
        throw new ConflictError('media_attached', 'Remove it from its post first (edit the post).');
      }
      await repo.markDeleted(id);
      await recordEvent(trx, 'media.deleted', { media_id: id, owner_id: ownerId });
    });
  }

  /** Removes the files of media, then their rows (idempotent: run again after a failure). */
  async removeFiles(rows: readonly MediaRow[]): Promise<void> {
    if (rows.length === 0) return;
    // An avatar's or header's one file is its own preview: each key once.
    await this.#storage.delete([...new Set(rows.flatMap((r) => [r.original_key, r.preview_key]))]);
    await new MediaRepository(this.#db).deleteRows(rows.map((r) => r.id));
  }

  async removeMedia(id: string): Promise<void> {
    const row = await new MediaRepository(this.#db).findById(id);
    if (row?.deleted_at) await this.removeFiles([row]);
  }

  async removeMediaOfPost(postId: string): Promise<void> {
    await this.removeFiles(await new MediaRepository(this.#db).ofPost(postId));
  }

  /** Uploads never attached to anything within `ttlMinutes`, removed in batches. */
  async purgeUnattached(ttlMinutes: number, batch = 100): Promise<number> {
    const cutoff = new Date(Date.now() - ttlMinutes * 60_000);
    const rows = await new MediaRepository(this.#db).unattachedBefore(cutoff, batch);
    await this.removeFiles(rows);
    return rows.length;
  }
}

/**
 * Makes `ids` the pictures of a post, in the transaction that writes the post: each must be the
 * author's, not deleted, and not attached to another post; at most `max`.
 */
export async function attachMedia(
  trx: Kysely<DB>,
  authorId: string,
  postId: string,
  ids: readonly string[],
  max: number,
): Promise<void> {
  const unique = [...new Set(ids)];
  if (unique.length > max) throw mediaErrors.tooMany(max);
  const repo = new MediaRepository(trx);
  const rows = unique.length > 0 ? await repo.lockMany(unique) : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const bad = unique.flatMap((id, i) => {
    const row = byId.get(id);
    const usable =
      row &&
      row.owner_id === authorId &&
      row.purpose === 'attachment' &&
      !row.deleted_at &&
      (!row.post_id || row.post_id === postId);
    return usable
      ? []
      : [
          {
            path: `/media_ids/${i}`,
            message: 'no such media of yours, or attached to another post',
            code: 'media_unusable',
          },
        ];
  });
  if (bad.length > 0) throw new ValidationError(bad, 'Some media cannot be attached.');
  await repo.setPostMedia(postId, unique);
}
