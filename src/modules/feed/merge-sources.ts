import type { Logger } from '../../logger.ts';
import {
  scoreOfId,
  type TimelineEntry,
  type TimelineStore,
  type TimelineWindow,
} from '../../infra/timeline/timeline.ts';
import type { Relations } from '../social/relations.cache.ts';
import type { FeedRepository } from './feed.repository.ts';

/** Posts written whose `post.created` the feed consumer has not handled yet, newest first. */
export const PENDING = 'feed:pending';
/** An author's own posts, newest first (all of them, fanned out or not). */
export const authorTimeline = (authorId: string) => `posts:${authorId}`;
/** A pending post as listed: its id and its author's, so readers filter without a lookup. */
export const pendingEntry = (postId: string, authorId: string): TimelineEntry => ({
  id: `${postId}/${authorId}`,
  score: scoreOfId(postId),
});

/** Past this many pending posts (a fan-out backlog), readers merge from SQL instead. */
const MAX_PENDING = 500;
const PENDING_CAP = 100_000;

/** What MergeSources.merged found: the ids to merge, and below which it did not look. */
export interface Merged {
  ids: string[];
  floor: string | undefined;
}

/**
 * Whether a page of `limit` posts built from `merged` is whole: nothing below the floor can
 * belong on it (it is full and its oldest post is at or above the floor).
 */
export const covers = (page: readonly { id: string }[], floor: string | undefined, limit: number) =>
  floor === undefined || (page.length === limit && page.at(-1)!.id >= floor);

/** A source could not say for sure: the caller reads from SQL. */
class Unsure extends Error {}

/**
 * What a home page merges besides the viewer's timeline, from the timeline store alone: the
 * viewer's own posts and those of the big accounts they follow (author timelines), and posts
 * not yet fanned out (the pending list: a post is listed right after it commits and until the
 * feed consumer has placed it). Any list that is missing is rebuilt from SQL (created first, so
 * concurrent additions land in it); whenever this process may have missed an addition (the
 * store failed, or came back after an outage) it resyncs the pending list before trusting it.
 */
export class MergeSources {
  readonly #timelines: TimelineStore;
  readonly #repo: FeedRepository;
  readonly #log: Logger;
  readonly #cap: number;
  #unsure = false;
  /** The resync under way: every read waits for it rather than trusting the list meanwhile. */
  #resync: Promise<void> | undefined;

  constructor(timelines: TimelineStore, repo: FeedRepository, log: Logger, cap: number) {
    this.#timelines = timelines;
    this.#repo = repo;
    this.#log = log;
    this.#cap = cap;
  }

  /** A post committed: readers merge it until the feed consumer has handled it. */
  async added(postId: string, authorId: string): Promise<void> {
    try {
      await this.#timelines.push(PENDING, [pendingEntry(postId, authorId)], {
        cap: PENDING_CAP,
        onlyIfExists: true, // a missing list is rebuilt from SQL, where the post already is
      });
    } catch (err) {
      this.#unsure = true;
      this.#log.warn({ err, postId }, 'could not list a new post as pending; resyncing on read');
    }
  }

  /** The timeline store may have lost additions (it was unreachable): resync before use. */
  distrust(): void {
    this.#unsure = true;
  }

  /**
   * Ids to merge into the page of `limit` posts older than `before`, or undefined when only SQL
   * can tell (store failures, a backlog, an author timeline that runs out before its end).
   * Author timelines are read `limit` entries deep; `floor` is the newest last entry of those
   * that may hold more: posts below it were not looked at, so a page that the viewer's filters
   * leave short of `limit`, or that reaches below the floor, may lack some (see `covers`).
   */
  async merged(
    viewerId: string,
    rel: Relations,
    before: TimelineEntry | undefined,
    limit: number,
  ): Promise<Merged | undefined> {
    try {
      if (this.#unsure || this.#resync) await this.#resyncOnce();
      const authors = [viewerId, ...[...rel.big].filter((a) => !rel.muted.has(a))];
      const [pending, ...own] = await Promise.all([
        this.#pending(viewerId, rel, before),
        ...authors.map((a) => this.#authorPosts(a, before, limit)),
      ]);
      const cut = own.filter((ids) => ids.length === limit).map((ids) => ids.at(-1)!);
      const floor = cut.length > 0 ? cut.reduce((a, b) => (a > b ? a : b)) : undefined;
      return { ids: [...pending, ...own.flat()], floor };
    } catch (err) {
      if (!(err instanceof Unsure)) this.#unsure = true;
      return undefined;
    }
  }

  /** One resync at a time, shared by the reads that arrive meanwhile. */
  async #resyncOnce(): Promise<void> {
    if (!this.#resync) {
      this.#unsure = false;
      this.#resync = this.#rebuildPending().finally(() => {
        this.#resync = undefined;
      });
    }
    await this.#resync;
  }

  async #pending(viewerId: string, rel: Relations, before: TimelineEntry | undefined) {
    const opts = before ? { limit: MAX_PENDING, before } : { limit: MAX_PENDING };
    const window =
      (await this.#timelines.window(PENDING, opts)) ??
      (await this.#rebuildPending(), await this.#timelines.window(PENDING, opts));
    if (!window?.complete || window.entries.length >= MAX_PENDING) throw new Unsure();
    const ids: string[] = [];
    for (const { id } of window.entries) {
      const [postId, authorId] = id.split('/') as [string, string];
      const followed = rel.following.has(authorId) && !rel.muted.has(authorId);
      if (authorId === viewerId || followed) ids.push(postId);
    }
    return ids;
  }

  async #authorPosts(authorId: string, before: TimelineEntry | undefined, limit: number) {
    const key = authorTimeline(authorId);
    const opts = before ? { limit, before } : { limit };
    let window: TimelineWindow | undefined = await this.#timelines.window(key, opts);
    if (!window) {
      await refill(this.#timelines, key, this.#cap, () =>
        this.#repo.recentPostIds(authorId, this.#cap + 1, false),
      );
      window = await this.#timelines.window(key, opts);
    }
    // Fewer than asked from a trimmed list: older posts exist that it no longer holds.
    if (!window || (!window.complete && window.entries.length < limit)) throw new Unsure();
    return window.entries.map((e) => e.id);
  }

  async #rebuildPending(): Promise<void> {
    await refill(this.#timelines, PENDING, PENDING_CAP, async () =>
      (await this.#repo.pendingPosts(PENDING_CAP)).map((r) => `${r.id}/${r.author_id}`),
    );
  }
}

/**
 * Rebuilds a missing list from SQL: created empty first, so that entries pushed meanwhile land
 * in it, then filled with what `read` finds (ids whose score is their post's time). When the
 * read fails, the empty list is dropped again: left, it would pass for a complete empty one.
 */
export async function refill(
  timelines: TimelineStore,
  key: string,
  cap: number,
  read: () => Promise<string[]>,
  /** Wraps each call to the store (to tell its failures from the read's). */
  store = <T>(call: Promise<T>) => call,
): Promise<void> {
  await store(timelines.push(key, [], { cap }));
  let ids: string[];
  try {
    ids = await read();
  } catch (err) {
    await timelines.delete(key).catch(() => {});
    throw err;
  }
  const entries = ids.map((id) => ({ id, score: scoreOfId(id.split('/')[0]!) }));
  await store(timelines.push(key, entries, { cap, onlyIfExists: true }));
}
