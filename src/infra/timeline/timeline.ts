/** One item of a timeline: an id and the score it sorts by (newest = highest). */
export interface TimelineEntry {
  id: string;
  score: number;
}

/** A slice of a timeline, and whether the timeline was never trimmed (see `window`). */
export interface TimelineWindow {
  entries: TimelineEntry[];
  complete: boolean;
}

/**
 * The timeline port: capped lists of ids sorted by score, newest first (Redis sorted sets, or
 * in memory). Ties on score are ordered by id, descending, in both implementations.
 *
 * Each timeline has a floor: the highest score trimmed off by the cap (none at first). A
 * timeline holds every entry pushed above its floor that was not removed; entries at or below
 * the floor are not added. So a reader who reaches the end of a timeline knows that anything
 * older is simply not in it, never that something in between went missing.
 */
export interface TimelineStore {
  /**
   * Adds the entries above the floor and trims the timeline to its newest `cap`, raising the
   * floor to the highest score trimmed. With `onlyIfExists`, a timeline that does not exist stays
   * absent (its owner rebuilds it on read) and false is returned.
   */
  push(
    key: string,
    entries: readonly TimelineEntry[],
    opts: { cap: number; onlyIfExists?: boolean },
  ): Promise<boolean>;
  /**
   * `push` of the same entries to many timelines in one round trip (fan-out), with the same floor,
   * cap and onlyIfExists rules for each: whether each timeline of `keys` took them, in order.
   */
  pushMany(
    keys: readonly string[],
    entries: readonly TimelineEntry[],
    opts: { cap: number; onlyIfExists?: boolean },
  ): Promise<boolean[]>;
  /** Replaces the whole timeline at once (floor reset); an empty list still makes it exist. */
  replace(key: string, entries: readonly TimelineEntry[], cap: number): Promise<void>;
  /**
   * Newest first, strictly after (older than) `before` when given; undefined when the timeline
   * does not exist (one round trip answers both).
   */
  range(
    key: string,
    opts: { limit: number; before?: TimelineEntry },
  ): Promise<TimelineEntry[] | undefined>;
  /**
   * The same, and whether the timeline is complete: nothing was ever trimmed off (no floor) and
   * it was not marked incomplete, so it holds every entry pushed to it that was not removed.
   */
  window(
    key: string,
    opts: { limit: number; before?: TimelineEntry },
  ): Promise<TimelineWindow | undefined>;
  remove(key: string, ids: readonly string[]): Promise<void>;
  /** `remove` from many timelines in one round trip (absent ones stay absent). */
  removeMany(keys: readonly string[], ids: readonly string[]): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** How many entries the timeline holds (0 when absent). */
  size(key: string): Promise<number>;
  /**
   * Says the timeline may lack entries below its newest (a new followee's posts, before they are
   * merged): it is no longer complete (see `window`) until replaced. Absent: nothing happens.
   */
  markIncomplete(key: string): Promise<void>;
  /** Drops whole timelines (their owners rebuild them on read). */
  delete(...keys: string[]): Promise<void>;
  close(): Promise<void>;
}

/** True when `a` sorts before (is newer than) `b`. */
export function newer(a: TimelineEntry, b: TimelineEntry): boolean {
  return a.score > b.score || (a.score === b.score && a.id > b.id);
}

// Scores carry milliseconds since 2020 times 4096 plus the UUIDv7's 12-bit sub-millisecond
// sequence: exact in a double until the year 2054, and ordered like the ids themselves.
const EPOCH_2020 = 1_577_836_800_000;

/** The timeline score of a UUIDv7 id. */
export function scoreOfId(id: string): number {
  const hex = id.replace(/-/g, '');
  const ms = parseInt(hex.slice(0, 12), 16);
  const seq = parseInt(hex.slice(13, 16), 16);
  return (ms - EPOCH_2020) * 4096 + seq;
}

/** The timeline entry of a post (or any UUIDv7 id): the id, scored by its time. */
export const entryOf = (id: string): TimelineEntry => ({ id, score: scoreOfId(id) });
