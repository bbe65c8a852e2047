import type { Kysely } from 'kysely';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB } from '../../infra/db/schema.ts';
import { idIn } from '../../infra/db/sql.ts';

/** A post's stored counters and last edit: what changes after it is written. */
export interface PostCounters {
  id: string;
  like_count: number;
  comment_count: number;
  edited_at: Date | null;
}

type Stored = [likes: number, comments: number, editedAt: string | null];

// Bounds what a refill racing an invalidation (read before a like committed, written after it
// was invalidated) can leave behind.
const TTL_SECONDS = 60;
const key = (id: string) => `counts:${id}`;

/**
 * Post counters by id for feed pages: one cache round trip for a page; misses are read in one
 * query (which also proves the posts still exist) and cached. Every change of a counter or of
 * the text (likes, comments, edits, deletion) invalidates after it commits, in the shared cache
 * every API node reads.
 */
export class PostCountersCache {
  readonly #db: Kysely<DB>;
  readonly #cache: Cache;

  constructor(db: Kysely<DB>, cache: Cache) {
    this.#db = db;
    this.#cache = cache;
  }

  async getMany(ids: readonly string[]): Promise<Map<string, PostCounters>> {
    const found = new Map<string, PostCounters>();
    if (ids.length === 0) return found;
    const cached = await this.#cache.getMany<Stored>(ids.map(key));
    const missing: string[] = [];
    ids.forEach((id, i) => {
      const hit = cached[i];
      if (!hit) return void missing.push(id);
      const [like_count, comment_count, edited] = hit;
      found.set(id, { id, like_count, comment_count, edited_at: edited ? new Date(edited) : null });
    });
    if (missing.length === 0) return found;
    const rows = await this.#db
      .selectFrom('posts')
      .select(['id', 'like_count', 'comment_count', 'edited_at'])
      .where(idIn('id', missing))
      .execute();
    await Promise.all(
      rows.map((row) => {
        found.set(row.id, row);
        return this.prime(row);
      }),
    );
    return found;
  }

  /** Caches the counters of a post just written or read. */
  async prime(c: PostCounters): Promise<void> {
    const stored: Stored = [c.like_count, c.comment_count, c.edited_at?.toISOString() ?? null];
    await this.#cache.set(key(c.id), stored, TTL_SECONDS);
  }

  async invalidate(...ids: string[]): Promise<void> {
    if (ids.length > 0) await this.#cache.delete(...ids.map(key));
  }
}
