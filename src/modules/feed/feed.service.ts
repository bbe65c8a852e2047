import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../infra/metrics.ts';
import {
  scoreOfId,
  type TimelineEntry,
  type TimelineStore,
} from '../../infra/timeline/timeline.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import type { Relations, RelationsCache } from '../social/relations.ts';
import type { FeedRepository } from './feed.repository.ts';
import type { FeedHydrator } from './hydrate.ts';

/** The home timeline key of a user. */
export const homeTimeline = (userId: string) => `home:${userId}`;

export const entryOf = (id: string): TimelineEntry => ({ id, score: scoreOfId(id) });

const byNewest = (a: HydratedPost, b: HydratedPost) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
const WARN_EVERY_MS = 10_000;

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

  /** Up to `limit` posts older than `beforeId` (all when undefined), newest first. */
  async page(
    viewerId: string,
    beforeId: string | undefined,
    limit: number,
  ): Promise<HydratedPost[]> {
    const { repo, hydrator, metrics } = this.#d;
    const rel = await this.#d.relations.of(viewerId);
    const [fromTimeline, merged] = await Promise.all([
      this.#timelinePart(viewerId, rel, beforeId, limit).catch((err: unknown): undefined => {
        if (!(err instanceof TimelineUnavailable)) throw err;
        this.#degraded(err.cause);
        return undefined;
      }),
      repo.mergedIds(viewerId, beforeId, limit).then((ids) => hydrator.hydrate(viewerId, ids, rel)),
    ]);
    const rest: HydratedPost[] =
      fromTimeline ??
      (await hydrator.hydrate(viewerId, await repo.feedIds(viewerId, beforeId, limit), rel));
    metrics.feedReads.inc({ source: fromTimeline ? 'timeline' : 'sql' });

    const unique = new Map([...rest, ...merged].map((p) => [p.id, p]));
    const page = [...unique.values()].sort(byNewest).slice(0, limit);
    const fromRest = new Set(rest.map((p) => p.id));
    const pulled = page.filter((p) => p.author_id !== viewerId && !fromRest.has(p.id)).length;
    if (pulled > 0) metrics.feedMergedPosts.inc(pulled);
    return page;
  }

  /**
   * Posts from the timeline, complete down to the last entry examined; when the timeline runs
   * out before `limit` posts are found, continued from SQL past its oldest entry.
   */
  async #timelinePart(
    viewerId: string,
    rel: Relations,
    beforeId: string | undefined,
    limit: number,
  ): Promise<HydratedPost[]> {
    const { timelines, repo, hydrator, cap } = this.#d;
    const key = homeTimeline(viewerId);
    if (!(await fromStore(timelines.exists(key)))) await this.#rebuild(key, viewerId);
    const found: HydratedPost[] = [];
    let before = beforeId === undefined ? undefined : entryOf(beforeId);
    let want = limit;
    for (;;) {
      const entries = await fromStore(
        timelines.range(key, before ? { limit: want, before } : { limit: want }),
      );
      before = entries.at(-1) ?? before;
      found.push(
        ...(await hydrator.hydrate(
          viewerId,
          entries.map((e) => e.id),
          rel,
        )),
      );
      if (found.length >= limit) return found;
      if (entries.length < want) break;
      want = Math.min(want * 2, cap);
    }
    const older = await repo.feedIds(viewerId, before?.id, limit - found.length);
    return [...found, ...(await hydrator.hydrate(viewerId, older, rel))];
  }

  /**
   * Marks the timeline as existing first, so posts fanned out while SQL is read land in it, then
   * adds what SQL holds. Whatever a concurrent reader misses meanwhile, it reads from SQL.
   */
  async #rebuild(key: string, userId: string): Promise<void> {
    const { timelines, repo, cap, metrics } = this.#d;
    await fromStore(timelines.push(key, [], { cap }));
    // One more than fits: when SQL holds more, trimming it raises the floor past all the rest.
    const ids = await repo.timelineIds(userId, cap + 1);
    await fromStore(timelines.push(key, ids.map(entryOf), { cap, onlyIfExists: true }));
    metrics.feedRebuilds.inc();
  }

  #degraded(err: unknown): void {
    if (Date.now() - this.#lastWarning > WARN_EVERY_MS) {
      this.#lastWarning = Date.now();
      this.#d.log.warn({ err }, 'timeline store unavailable; serving feeds from the database');
    }
  }
}
