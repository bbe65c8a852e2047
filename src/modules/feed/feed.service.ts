import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../infra/metrics.ts';
import {
  entryOf,
  type TimelineEntry,
  type TimelineStore,
  type TimelineWindow,
} from '../../infra/timeline/timeline.ts';
import type { Lane } from '../../infra/db/lane.ts';
import { cannotAnswerNow } from '../../infra/db/unavailable.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import type { Relations, RelationsCache } from '../social/relations.cache.ts';
import type { FeedRepository } from './feed.repository.ts';
import type { FeedHydrator } from './hydrate.ts';
import { covers, refill, type MergeSources } from './merge-sources.ts';

/** The home timeline key of a user. */
export const homeTimeline = (userId: string) => `home:${userId}`;

const byNewest = (a: HydratedPost, b: HydratedPost) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
const WARN_EVERY_MS = 10_000;

/** What a page is assembled from (see #assemble). */
interface PageParts {
  firstIds: readonly string[];
  mergedIds: readonly string[];
  limit: number;
  /** Whether the page may continue from SQL past the timeline's end. */
  sql: boolean;
}

/** A timeline store failure: the feed is then read from SQL. */
class TimelineUnavailable extends Error {}

/** Awaits a timeline store call; its failure (only) switches the feed to SQL. */
const fromStore = <T>(call: Promise<T>): Promise<T> =>
  call.catch((err: unknown) => {
    throw new TimelineUnavailable('timeline store failed', { cause: err });
  });

export interface FeedDeps {
  timelines: TimelineStore;
  repo: FeedRepository;
  relations: RelationsCache;
  hydrator: FeedHydrator;
  sources: MergeSources;
  /** Where reads from SQL run: a share of the pool (see Database.slow). */
  slow: Lane;
  metrics: Metrics;
  log: Logger;
  /** Entries kept per home timeline. */
  cap: number;
}

/**
 * The home feed: ids from the viewer's timeline (followees' fanned-out posts), merged with what
 * is never fanned out to them (their own posts, big accounts' posts), then hydrated and filtered.
 * A missing timeline is rebuilt from SQL; past its oldest entry, and whenever the timeline store
 * fails, the feed is read from SQL, so it never has a hole.
 */
export class FeedService {
  readonly #d: FeedDeps;
  #lastWarning = 0;

  constructor(deps: FeedDeps) {
    this.#d = deps;
  }

  /**
   * Up to `limit` posts older than `beforeId` (all when undefined), newest first. With the
   * timeline store answering, the page comes from it and the caches alone: the timeline window,
   * and what to merge (see MergeSources), hydrated together. Otherwise one query reads what to
   * merge and every counter of the page.
   */
  async page(
    viewerId: string,
    beforeId: string | undefined,
    limit: number,
  ): Promise<HydratedPost[]> {
    const rel = await this.#d.relations.of(viewerId);
    const before = beforeId === undefined ? undefined : entryOf(beforeId);
    const [window, merged] = await Promise.all([
      this.#window(viewerId, before, limit).catch((err: unknown): undefined => {
        if (!(err instanceof TimelineUnavailable)) throw err;
        this.#degraded(err.cause);
        return undefined;
      }),
      this.#d.sources.merged(viewerId, rel, before, limit),
    ]);
    const source = window ? 'timeline' : 'sql';
    this.#d.metrics.feedReads.inc({ source });
    if (window && merged) {
      const page = await this.#fromMemory(viewerId, rel, before, window, merged.ids, limit);
      if (covers(page, merged.floor, limit)) return page;
      // The newest posts of a big account were hidden from the viewer (friends only, say):
      // older ones may belong here. Once more with the author timelines read whole.
      const whole = await this.#d.sources.merged(viewerId, rel, before, this.#d.cap);
      if (whole) {
        const again = await this.#fromMemory(viewerId, rel, before, window, whole.ids, limit);
        if (covers(again, whole.floor, limit)) return again;
      }
    }
    try {
      return await this.#d.slow.run(() => this.#fromSql(viewerId, rel, before, window, limit));
    } catch (err) {
      if (!window || !cannotAnswerNow(err)) throw err;
      // The database cannot answer now (saturated, or down): the page from what is in memory,
      // which may lack posts not fanned out yet or past the timeline, rather than an error.
      this.#d.metrics.feedReads.inc({ source: 'degraded' });
      const ids = merged?.ids ?? [];
      return this.#fromMemory(viewerId, rel, before, window, ids, limit, false);
    }
  }

  async #fromMemory(
    viewerId: string,
    rel: Relations,
    before: TimelineEntry | undefined,
    window: TimelineWindow,
    mergedIds: string[],
    limit: number,
    /** Whether the page may continue from SQL past the timeline's end. */
    sql = true,
  ): Promise<HydratedPost[]> {
    const firstIds = window.entries.map((e) => e.id);
    const all = [...new Set([...firstIds, ...mergedIds])];
    const hydrated = new Map(
      (await this.#d.hydrator.hydrate(viewerId, all, rel)).map((p) => [p.id, p]),
    );
    const page = { firstIds, mergedIds, limit, sql };
    return this.#assemble(viewerId, rel, before, window, hydrated, page);
  }

  async #fromSql(
    viewerId: string,
    rel: Relations,
    before: TimelineEntry | undefined,
    window: TimelineWindow | undefined,
    limit: number,
  ): Promise<HydratedPost[]> {
    const { repo, hydrator } = this.#d;
    const beforeId = before?.id;
    const firstIds =
      window?.entries.map((e) => e.id) ?? (await repo.feedIds(viewerId, beforeId, limit));
    const stats = await repo.pageStats(viewerId, firstIds, beforeId, limit, [...rel.blocked]);
    const mergedIds = stats.filter((s) => s.merged).map((s) => s.id);
    const all = [...new Set([...firstIds, ...mergedIds])];
    const hydrated = new Map(
      (await hydrator.hydrateWithStats(viewerId, all, rel, stats)).map((p) => [p.id, p]),
    );
    const page = { firstIds, mergedIds, limit, sql: true };
    return this.#assemble(viewerId, rel, before, window, hydrated, page);
  }

  /** The timeline's posts (continued past the first window if need be) and the merged ones. */
  async #assemble(
    viewerId: string,
    rel: Relations,
    before: TimelineEntry | undefined,
    window: TimelineWindow | undefined,
    hydrated: Map<string, HydratedPost>,
    { firstIds, mergedIds, limit, sql }: PageParts,
  ): Promise<HydratedPost[]> {
    const pick = (ids: readonly string[]) => ids.flatMap((id) => hydrated.get(id) ?? []);
    let rest = pick(firstIds);
    if (window && rest.length < limit) {
      const missing = limit - rest.length;
      const more = await this.#more(viewerId, rel, before, window, missing, limit, sql);
      rest = [...rest, ...more];
    }
    const unique = new Map([...rest, ...pick(mergedIds)].map((p) => [p.id, p]));
    const page = [...unique.values()].sort(byNewest).slice(0, limit);
    const fromRest = new Set(rest.map((p) => p.id));
    const pulled = page.filter((p) => p.author_id !== viewerId && !fromRest.has(p.id)).length;
    if (pulled > 0) this.#d.metrics.feedMergedPosts.inc(pulled);
    return page;
  }

  /** The first `limit` entries of the timeline after `before`, rebuilding a missing one. */
  async #window(
    viewerId: string,
    before: TimelineEntry | undefined,
    limit: number,
  ): Promise<TimelineWindow> {
    const { timelines } = this.#d;
    const key = homeTimeline(viewerId);
    const opts = before ? { limit, before } : { limit };
    const window = await fromStore(timelines.window(key, opts));
    if (window) return window;
    await this.#rebuild(key, viewerId);
    return (await fromStore(timelines.window(key, opts))) ?? { entries: [], complete: false };
  }

  /**
   * When the first window held fewer than `limit` posts the viewer may see: more from the
   * timeline (windows doubling up to the cap), complete down to the last entry examined, and
   * once the timeline runs out, from SQL past its oldest entry, unless the timeline is complete
   * (never trimmed: nothing older was fanned out to it; the rest is merged by the page query).
   */
  async #more(
    viewerId: string,
    rel: Relations,
    cursor: TimelineEntry | undefined,
    first: TimelineWindow,
    missing: number,
    limit: number,
    sql: boolean,
  ): Promise<HydratedPost[]> {
    const { timelines, repo, hydrator, cap } = this.#d;
    const key = homeTimeline(viewerId);
    const found: HydratedPost[] = [];
    let before = first.entries.at(-1) ?? cursor;
    let want = limit;
    let last = first;
    while (last.entries.length === want && found.length < missing) {
      want = Math.min(want * 2, cap);
      const opts = before ? { limit: want, before } : { limit: want };
      last = (await fromStore(timelines.window(key, opts))) ?? { entries: [], complete: false };
      before = last.entries.at(-1) ?? before;
      const ids = last.entries.map((e) => e.id);
      found.push(...(await hydrator.hydrate(viewerId, ids, rel)));
    }
    if (found.length >= missing || last.complete || !sql) return found;
    const older = await repo.feedIds(viewerId, before?.id, missing - found.length);
    return [...found, ...(await hydrator.hydrate(viewerId, older, rel))];
  }

  /**
   * Marks the timeline as existing first, so posts fanned out while SQL is read land in it, then
   * adds what SQL holds. Whatever a concurrent reader misses meanwhile, it reads from SQL.
   */
  async #rebuild(key: string, userId: string): Promise<void> {
    const { timelines, repo, cap, metrics, slow } = this.#d;
    // One more than fits: when SQL holds more, trimming it raises the floor past all the rest.
    const read = () => slow.run(() => repo.timelineIds(userId, cap + 1));
    await refill(timelines, key, cap, read, fromStore);
    metrics.feedRebuilds.inc();
  }

  #degraded(err: unknown): void {
    if (Date.now() - this.#lastWarning > WARN_EVERY_MS) {
      this.#lastWarning = Date.now();
      this.#d.log.warn({ err }, 'timeline store unavailable; serving feeds from the database');
    }
  }
}
