import { sql, type Kysely } from 'kysely';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB } from '../../infra/db/schema.ts';

/** How many of a user's likes are cached: those of the newest posts, which feeds show. */
const RECENT = 256;
const TTL_SECONDS = 600;
const key = (userId: string) => `liked:${userId}`;

/** The user's likes of posts at or above `floor` (all of them when `floor` is null). */
interface Stored {
  ids: string[];
  floor: string | null;
}

/**
 * Which posts a user liked, for feed pages: their likes of the newest posts they liked (by post
 * id, so by the posts' age) are cached, built in one query on the (user_id, post_id) index and
 * dropped whenever they like or unlike. Only a page that reaches below the cached range asks the
 * database about the posts there.
 */
export class LikedCache {
  readonly #db: Kysely<DB>;
  readonly #cache: Cache;

  constructor(db: Kysely<DB>, cache: Cache) {
    this.#db = db;
    this.#cache = cache;
  }

  /** Those of `postIds` that `userId` liked. */
  async among(userId: string, postIds: readonly string[]): Promise<Set<string>> {
    const liked = new Set<string>();
    if (postIds.length === 0) return liked;
    const stored = (await this.#cache.get<Stored>(key(userId))) ?? (await this.#load(userId));
    const recent = new Set(stored.ids);
    const older: string[] = [];
    for (const id of postIds) {
      if (recent.has(id)) liked.add(id);
      else if (stored.floor !== null && id < stored.floor) older.push(id);
    }
    if (older.length > 0) {
      const rows = await this.#db
        .selectFrom('likes')
        .select('post_id')
        .where('user_id', '=', userId)
        .where(sql<boolean>`post_id = any(${older}::uuid[])`)
        .execute();
      for (const r of rows) liked.add(r.post_id);
    }
    return liked;
  }

  async invalidate(userId: string): Promise<void> {
    await this.#cache.delete(key(userId));
  }

  async #load(userId: string): Promise<Stored> {
    const rows = await this.#db
      .selectFrom('likes')
      .select('post_id')
      .where('user_id', '=', userId)
      .orderBy('post_id', 'desc')
      .limit(RECENT + 1)
      .execute();
    const ids = rows.slice(0, RECENT).map((r) => r.post_id);
    // Past RECENT, only likes of posts at or above the last one kept are known here.
    const stored: Stored = { ids, floor: rows.length > RECENT ? ids.at(-1)! : null };
    await this.#cache.set(key(userId), stored, TTL_SECONDS);
    return stored;
  }
}
