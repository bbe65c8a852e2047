import type { Kysely } from 'kysely';
import { UnauthorizedError } from '../../errors.ts';
import { recordEvent } from '../../events/outbox.ts';
import type { DB, UserRow } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { CONTENT_TYPES, newMediaKey, type MediaStorage } from '../../infra/storage/storage.ts';
import { newId } from '../../ids.ts';
import type { CroppedImage, ImageProcessor } from './image-processor.ts';
import { MediaRepository } from './media.repository.ts';

export type PictureKind = 'avatar' | 'header';
export const PICTURE_KINDS: readonly PictureKind[] = ['avatar', 'header'];

/** An avatar is a square, a header a 3:1 banner (Mastodon's sizes). */
export const PICTURE_SIZES: Readonly<Record<PictureKind, { width: number; height: number }>> = {
  avatar: { width: 400, height: 400 },
  header: { width: 1500, height: 500 },
};

/** Paths of the pictures shown while a user has none (served by kith, see media/index.ts). */
export const DEFAULT_PICTURE_PATHS: Readonly<Record<PictureKind, string>> = {
  avatar: '/avatars/original/missing.png',
  header: '/headers/original/missing.png',
};

/** The avatar and header URLs of a user: theirs, or kith's defaults under `origin`. */
export function picturesOf(
  user: Pick<UserRow, 'avatar_url' | 'header_url'>,
  origin: string,
): { avatar: string; header: string } {
  const base = origin.replace(/\/+$/, '');
  return {
    avatar: user.avatar_url ?? base + DEFAULT_PICTURE_PATHS.avatar,
    header: user.header_url ?? base + DEFAULT_PICTURE_PATHS.header,
  };
}

/** A processed picture not stored yet. */
export interface PreparedPicture {
  kind: PictureKind;
  cropped: CroppedImage;
}

/** For each kind: a new picture, null to go back to the default, absent to leave it. */
export type PictureChanges = Partial<Record<PictureKind, PreparedPicture | null>>;

/**
 * Avatars and headers. `prepare` does everything that can refuse an upload (sniffing, limits,
 * crop) and writes nothing, so a route can check all its input before any write; `apply` stores
 * the files under fresh unguessable keys, then in one transaction records them as `media` rows
 * (purpose `avatar` / `header`), shows their URLs on the user and retires the previous ones:
 * their rows are marked deleted and `media.deleted` removes their files after the commit.
 */
export class ProfilePicturesService {
  readonly #db: Kysely<DB>;
  readonly #storage: MediaStorage;
  readonly #processor: ImageProcessor;
  /** Told after a commit changed a user's pictures (drops what caches show of them). */
  readonly #changed: (userId: string) => Promise<void>;

  constructor(
    db: Kysely<DB>,
    storage: MediaStorage,
    processor: ImageProcessor,
    changed: (userId: string) => Promise<void>,
  ) {
    this.#db = db;
    this.#storage = storage;
    this.#processor = processor;
    this.#changed = changed;
  }

  async prepare(kind: PictureKind, bytes: Buffer): Promise<PreparedPicture> {
    const { width, height } = PICTURE_SIZES[kind];
    return { kind, cropped: await this.#processor.crop(bytes, width, height) };
  }

  async apply(userId: string, changes: PictureChanges): Promise<UserRow> {
    const stored = PICTURE_KINDS.flatMap((kind) => {
      const picture = changes[kind];
      if (!picture) return [];
      return [{ kind, picture, key: `${newMediaKey()}.${picture.cropped.format}` }];
    });
    let updated: UserRow;
    try {
      await Promise.all(
        stored.map(({ key, picture }) =>
          this.#storage.put(
            key,
            picture.cropped.image.bytes,
            CONTENT_TYPES[picture.cropped.format]!,
          ),
        ),
      );
      updated = await transaction(this.#db, async (trx) => {
        const user = await trx
          .selectFrom('users')
          .select('id')
          .where('id', '=', userId)
          .forUpdate()
          .executeTakeFirst();
        if (!user) throw new UnauthorizedError('invalid_token', 'The account no longer exists.');
        const repo = new MediaRepository(trx);
        const urls: { avatar_url?: string | null; header_url?: string | null } = {};
        for (const kind of PICTURE_KINDS) {
          if (changes[kind] === undefined) continue;
          for (const old of await repo.profilePictures(userId, kind)) {
            await repo.markDeleted(old.id);
            await recordEvent(trx, 'media.deleted', { media_id: old.id, owner_id: userId });
          }
          const next = stored.find((s) => s.kind === kind);
          urls[`${kind}_url`] = next ? (await this.#insert(trx, userId, next)).url : null;
        }
        if (Object.keys(urls).length === 0) {
          return trx
            .selectFrom('users')
            .selectAll()
            .where('id', '=', userId)
            .executeTakeFirstOrThrow();
        }
        return trx
          .updateTable('users')
          .set({ ...urls, updated_at: new Date() })
          .where('id', '=', userId)
          .returningAll()
          .executeTakeFirstOrThrow();
      });
    } catch (err) {
      await this.#storage.delete(stored.map((s) => s.key));
      throw err;
    }
    // After the commit: the new pictures are kept whatever happens here.
    await this.#changed(userId);
    return updated;
  }

  #insert(
    trx: Kysely<DB>,
    ownerId: string,
    { kind, picture, key }: { kind: PictureKind; picture: PreparedPicture; key: string },
  ) {
    const { image, format, blurhash } = picture.cropped;
    const url = this.#storage.url(key);
    // One file: the crop is already small, so it is its own preview.
    return new MediaRepository(trx).insert({
      id: newId(),
      owner_id: ownerId,
      purpose: kind,
      original_key: key,
      preview_key: key,
      url,
      preview_url: url,
      content_type: CONTENT_TYPES[format]!,
      width: image.width,
      height: image.height,
      preview_width: image.width,
      preview_height: image.height,
      blurhash,
      deleted_at: null,
    });
  }
}
