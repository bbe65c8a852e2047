import { sql, type Insertable, type Kysely, type RawBuilder } from 'kysely';
import type { DB, MediaPurpose, MediaRow, MediaTable } from '../../infra/db/schema.ts';
import { idIn } from '../../infra/db/sql.ts';

/** A picture as every presentation of a post shows it (kept with the post in its cache). */
export interface MediaAttachment {
  id: string;
  url: string;
  preview_url: string;
  width: number;
  height: number;
  preview_width: number;
  preview_height: number;
  blurhash: string;
  description: string;
  focus_x: number;
  focus_y: number;
}

/**
 * The pictures of the post whose id is `postRef` (a column), in order, as a JSON array: one
 * subquery in the statement that reads the post, so media cost no extra round trip.
 */
export function mediaOfPost(postRef: string): RawBuilder<MediaAttachment[]> {
  return sql<MediaAttachment[]>`coalesce((
    select json_agg(json_build_object(
      'id', m.id, 'url', m.url, 'preview_url', m.preview_url,
      'width', m.width, 'height', m.height,
      'preview_width', m.preview_width, 'preview_height', m.preview_height,
      'blurhash', m.blurhash, 'description', m.description,
      'focus_x', m.focus_x, 'focus_y', m.focus_y) order by m.position)
    from media m where m.post_id = ${sql.ref(postRef)} and m.deleted_at is null), '[]'::json)`;
}

/** SQL for uploaded pictures. */
export class MediaRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async insert(row: Insertable<MediaTable>): Promise<MediaRow> {
    return this.#db.insertInto('media').values(row).returningAll().executeTakeFirstOrThrow();
  }

  findOwned(id: string, ownerId: string): Promise<MediaRow | undefined> {
    return this.#db
      .selectFrom('media')
      .selectAll()
      .where('id', '=', id)
      .where('owner_id', '=', ownerId)
      .where('purpose', '=', 'attachment')
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
  }

  /** The user's current avatar or header (one at most), not yet marked deleted. */
  profilePictures(ownerId: string, purpose: MediaPurpose): Promise<MediaRow[]> {
    return this.#db
      .selectFrom('media')
      .selectAll()
      .where('owner_id', '=', ownerId)
      .where('purpose', '=', purpose)
      .where('deleted_at', 'is', null)
      .execute();
  }

  /** The rows of `ids`, locked until the transaction ends (attaching them races with others). */
  lockMany(ids: readonly string[]): Promise<MediaRow[]> {
    return this.#db.selectFrom('media').selectAll().where(idIn('id', ids)).forUpdate().execute();
  }

  async update(
    id: string,
    changes: { description?: string; focus_x?: number; focus_y?: number },
  ): Promise<MediaRow | undefined> {
    return this.#db
      .updateTable('media')
      .set(changes)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
  }

  /** Makes `ids` (in this order) the post's pictures; those no longer listed are let go. */
  async setPostMedia(postId: string, ids: readonly string[]): Promise<void> {
    let release = this.#db
      .updateTable('media')
      .set({ post_id: null })
      .where('post_id', '=', postId);
    if (ids.length > 0) release = release.where(sql<boolean>`not (${idIn('id', ids)})`);
    await release.execute();
    for (const [position, id] of ids.entries()) {
      await this.#db
        .updateTable('media')
        .set({ post_id: postId, position })
        .where('id', '=', id)
        .execute();
    }
  }

  /** Marks the media as going away: no longer shown, files to remove. */
  async markDeleted(id: string): Promise<void> {
    await this.#db
      .updateTable('media')
      .set({ deleted_at: new Date() })
      .where('id', '=', id)
      .execute();
  }

  /** The media of a post, deleted or not (the post itself may be gone). */
  ofPost(postId: string): Promise<MediaRow[]> {
    return this.#db.selectFrom('media').selectAll().where('post_id', '=', postId).execute();
  }

  findById(id: string): Promise<MediaRow | undefined> {
    return this.#db.selectFrom('media').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** Uploads attached to nothing since before `cutoff`, oldest first. */
  unattachedBefore(cutoff: Date, limit: number): Promise<MediaRow[]> {
    return this.#db
      .selectFrom('media')
      .selectAll()
      .where('post_id', 'is', null)
      .where('purpose', '=', 'attachment')
      .where('created_at', '<', cutoff)
      .orderBy('created_at')
      .limit(limit)
      .execute();
  }

  async deleteRows(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.#db.deleteFrom('media').where(idIn('id', ids)).execute();
  }
}
