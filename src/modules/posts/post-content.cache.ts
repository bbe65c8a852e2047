import type { Kysely } from 'kysely';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB, PostRow } from '../../infra/db/schema.ts';
import { idIn } from '../../infra/db/sql.ts';
import { mediaOfPost, type MediaAttachment } from '../media/media.repository.ts';

/** What a post says and who may see it: everything but its counters, which change too often. */
export type PostContent = Pick<
  PostRow,
  'id' | 'author_id' | 'text' | 'visibility' | 'created_at' | 'edited_at' | 'fan_out'
> & { media: MediaAttachment[] };

type Stored =
  | (Omit<PostContent, 'created_at' | 'edited_at'> & {
      created_at: string;
      edited_at: string | null;
    })
  // A deleted post: timelines may list it until the fan-out takes it out, and each read of it
  // would otherwise go to the database.
  | { gone: true };

const TTL_SECONDS = 300;
const key = (id: string) => `post:${id}`;

const store = (p: PostContent): Stored => ({
  ...p,
  created_at: p.created_at.toISOString(),
  edited_at: p.edited_at?.toISOString() ?? null,
});
const revive = (s: Exclude<Stored, { gone: true }>): PostContent => ({
  ...s,
  created_at: new Date(s.created_at),
  edited_at: s.edited_at === null ? null : new Date(s.edited_at),
});

/**
 * Post contents by id for hydration: one cache round trip for a page, misses read in one query
 * and cached. Edits and deletes invalidate after they commit; callers still confirm that a post
 * exists (with its counters) in the database, so a deleted post is never shown from here.
 */
export class PostContentCache {
  readonly #db: Kysely<DB>;
  readonly #cache: Cache;

  constructor(db: Kysely<DB>, cache: Cache) {
    this.#db = db;
    this.#cache = cache;
  }

  async getMany(ids: readonly string[]): Promise<Map<string, PostContent>> {
    const found = new Map<string, PostContent>();
    if (ids.length === 0) return found;
    const cached = await this.#cache.getMany<Stored>(ids.map(key));
    const missing: string[] = [];
    ids.forEach((id, i) => {
      const hit = cached[i];
      if (!hit) missing.push(id);
      else if (!('gone' in hit)) found.set(id, revive(hit));
    });
    if (missing.length > 0) {
      const rows = await this.#db
        .selectFrom('posts')
        .select(['id', 'author_id', 'text', 'visibility', 'created_at', 'edited_at', 'fan_out'])
        .select(mediaOfPost('posts.id').as('media'))
        .where(idIn('id', missing))
        .execute();
      for (const row of rows) found.set(row.id, row);
      await Promise.all([
        ...rows.map((row) => this.#cache.set(key(row.id), store(row), TTL_SECONDS)),
        // Ids come from timelines, written after their post committed: missing means deleted.
        ...missing.filter((id) => !found.has(id)).map((id) => this.gone(id)),
      ]);
    }
    return found;
  }

  /** Drops the cached contents of `ids` and reads them again (a stale entry was noticed). */
  async reload(ids: readonly string[]): Promise<Map<string, PostContent>> {
    await this.#cache.delete(...ids.map(key));
    return this.getMany(ids);
  }

  /** Caches a post just written, which its followers are about to read. */
  async prime(post: PostContent): Promise<void> {
    const { id, author_id, text, visibility, created_at, edited_at, fan_out, media } = post;
    const content = { id, author_id, text, visibility, created_at, edited_at, fan_out, media };
    await this.#cache.set(key(id), store(content), TTL_SECONDS);
  }

  /** Remembers that a post was deleted, so that reads of stale timelines skip it at once. */
  async gone(id: string): Promise<void> {
    await this.#cache.set(key(id), { gone: true } satisfies Stored, TTL_SECONDS);
  }

  async invalidate(id: string): Promise<void> {
    await this.#cache.delete(key(id));
  }
}
