import { LRUCache } from 'lru-cache';
import { newer, type TimelineEntry, type TimelineStore } from './timeline.ts';

const byNewest = (a: TimelineEntry, b: TimelineEntry) => (newer(a, b) ? -1 : newer(b, a) ? 1 : 0);

/** A timeline: its entries, newest first, and its floor (see TimelineStore). */
interface Timeline {
  entries: TimelineEntry[];
  /** The newest entry ever trimmed off. */
  floor: TimelineEntry | undefined;
  /** Marked incomplete (see TimelineStore.markIncomplete). */
  incomplete?: boolean;
}

/** Timelines in process memory, at most `maxTimelines` of them (least recently used evicted). */
export class MemoryTimelineStore implements TimelineStore {
  readonly #timelines: LRUCache<string, Timeline>;

  constructor(maxTimelines = 100_000) {
    this.#timelines = new LRUCache({ max: maxTimelines });
  }

  async push(
    key: string,
    entries: readonly TimelineEntry[],
    opts: { cap: number; onlyIfExists?: boolean },
  ) {
    const current = this.#timelines.get(key);
    if (!current && opts.onlyIfExists) return false;
    this.#timelines.set(
      key,
      merged(current ?? { entries: [], floor: undefined }, entries, opts.cap),
    );
    return true;
  }

  async pushMany(
    keys: readonly string[],
    entries: readonly TimelineEntry[],
    opts: { cap: number; onlyIfExists?: boolean },
  ) {
    return Promise.all(keys.map((key) => this.push(key, entries, opts)));
  }

  async replace(key: string, entries: readonly TimelineEntry[], cap: number) {
    this.#timelines.set(key, merged({ entries: [], floor: undefined }, entries, cap));
  }

  async range(key: string, opts: { limit: number; before?: TimelineEntry }) {
    return (await this.window(key, opts))?.entries;
  }

  async window(key: string, opts: { limit: number; before?: TimelineEntry }) {
    const timeline = this.#timelines.get(key);
    if (!timeline) return undefined;
    const { entries: all, floor } = timeline;
    const { before } = opts;
    const start = before ? all.findIndex((e) => newer(before, e)) : 0;
    const entries = start < 0 ? [] : all.slice(start, start + opts.limit).map((e) => ({ ...e }));
    return { entries, complete: floor === undefined && !timeline.incomplete };
  }

  async markIncomplete(key: string) {
    const current = this.#timelines.get(key);
    if (current) this.#timelines.set(key, { ...current, incomplete: true });
  }

  async remove(key: string, ids: readonly string[]) {
    const current = this.#timelines.get(key);
    if (!current) return;
    const gone = new Set(ids);
    this.#timelines.set(key, {
      ...current,
      entries: current.entries.filter((e) => !gone.has(e.id)),
    });
  }

  async removeMany(keys: readonly string[], ids: readonly string[]) {
    for (const key of keys) await this.remove(key, ids);
  }

  async exists(key: string) {
    return this.#timelines.has(key);
  }

  async size(key: string) {
    return this.#timelines.get(key)?.entries.length ?? 0;
  }

  async delete(...keys: string[]) {
    for (const key of keys) this.#timelines.delete(key);
  }

  async close() {
    this.#timelines.clear();
  }
}

/** Adds the entries above the floor, keeps the newest `cap`, and raises the floor to what went. */
function merged(t: Timeline, entries: readonly TimelineEntry[], cap: number): Timeline {
  const byId = new Map(t.entries.map((e) => [e.id, e]));
  for (const e of entries) {
    if (!t.floor || newer(e, t.floor)) byId.set(e.id, { id: e.id, score: e.score });
  }
  const all = [...byId.values()].sort(byNewest);
  return { ...t, entries: all.slice(0, cap), floor: all[cap] ?? t.floor };
}
