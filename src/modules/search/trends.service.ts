import type { Kysely } from 'kysely';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB } from '../../infra/db/schema.ts';
import { TrendsRepository, type DailyUse, type TagUse } from './trends.repository.ts';

/** Tags ranked and kept in the cache; a viewer's blocks can only lower their counts. */
const CANDIDATES = 50;
const TTL_SECONDS = 60;
const KEY = 'trends:tags';

export interface TrendingTag {
  name: string;
  accounts: number;
  history: { hour: string; accounts: number }[];
}

type Stored = { tag: string; hour: string | null; accounts: number }[];

/**
 * Trending tags: used in public posts by the most distinct authors in the last 24 hours, with
 * hourly buckets. The ranking is computed once a minute for everyone (cached); a viewer's
 * blocks are then taken out of the counts exactly, by counting those authors' uses alone
 * (nothing to count for the many viewers with no blocks).
 */
export class TrendsService {
  readonly #repo: TrendsRepository;
  readonly #cache: Cache;

  constructor(db: Kysely<DB>, cache: Cache) {
    this.#repo = new TrendsRepository(db);
    this.#cache = cache;
  }

  async tags(viewerId: string | null, limit: number): Promise<TrendingTag[]> {
    const all = await this.#candidates();
    const hidden = viewerId === null ? [] : await this.#repo.blockedWith(viewerId);
    const tags = [...new Set(all.map((u) => u.tag))];
    const minus = new Map(
      (await this.#repo.usesBy(hidden, tags)).map((u) => [keyOf(u.tag, u.hour), u.accounts]),
    );
    const byTag = new Map<string, TrendingTag>();
    for (const use of all) {
      const accounts = use.accounts - (minus.get(keyOf(use.tag, use.hour)) ?? 0);
      const trend = byTag.get(use.tag) ?? { name: use.tag, accounts: 0, history: [] };
      byTag.set(use.tag, trend);
      if (use.hour === null) trend.accounts = accounts;
      else if (accounts > 0) trend.history.push({ hour: use.hour, accounts });
    }
    return [...byTag.values()]
      .filter((t) => t.accounts > 0)
      .map((t) => ({ ...t, history: t.history.sort((a, b) => b.hour.localeCompare(a.hour)) }))
      .sort((a, b) => b.accounts - a.accounts || (a.name < b.name ? -1 : 1))
      .slice(0, limit);
  }

  /**
   * Daily uses of `tags` over the last `days` days (UTC), counted as trends count them: public
   * posts by authors who reach the public, none by users in a block with the viewer.
   */
  async daily(viewerId: string | null, tags: readonly string[], days = 7): Promise<DailyUse[]> {
    if (tags.length === 0) return [];
    const hidden = viewerId === null ? [] : await this.#repo.blockedWith(viewerId);
    return this.#repo.daily(tags, days, hidden);
  }

  async #candidates(): Promise<{ tag: string; hour: string | null; accounts: number }[]> {
    const cached = await this.#cache.get<Stored>(KEY);
    if (cached) return cached;
    const fresh = (await this.#repo.top(CANDIDATES)).map(stored);
    await this.#cache.set(KEY, fresh, TTL_SECONDS);
    return fresh;
  }
}

const stored = (u: TagUse) => ({ ...u, hour: u.hour?.toISOString() ?? null });
const keyOf = (tag: string, hour: Date | string | null) =>
  `${tag}\n${hour instanceof Date ? hour.toISOString() : hour}`;
