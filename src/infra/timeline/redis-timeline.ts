import type { Redis } from 'ioredis';
import type { TimelineEntry, TimelineStore } from './timeline.ts';

// Every timeline holds a marker member: "\0" + the id of its floor entry, scored like it (the
// floor is the newest entry ever trimmed off; "\0" and -1 when none was; "\0\0" and -1 when
// none was but the timeline was marked incomplete). The timeline holds
// every entry newer than its floor, so older ones are never added back (readers get those from
// SQL), and an emptied timeline still exists. The marker sorts first and is never returned.
const MARKER = '\0';

// KEYS[1] timeline; ARGV[1] cap; ARGV[2] mode: 0 push, 1 push only if it exists, 2 replace;
// then score, id pairs. Atomic, so concurrent pushes and trims never leave a gap above the
// floor. Scores stay strings: Lua would print big numbers with too few digits.
const PUSH = `
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '2' then redis.call('DEL', KEYS[1]) end
local floorScore, floorId = '-1', ''
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[1] and string.sub(first[1], 1, 1) == '\\0' then
  floorScore, floorId = first[2], string.sub(first[1], 2)
  redis.call('ZREM', KEYS[1], first[1])
end
local floor = tonumber(floorScore)
for i = 3, #ARGV, 2 do
  local score = tonumber(ARGV[i])
  if score > floor or (score == floor and ARGV[i + 1] > floorId) then
    redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if extra > 0 then
  local gone = redis.call('ZRANGE', KEYS[1], 0, extra - 1, 'WITHSCORES')
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1)
  floorId, floorScore = gone[#gone - 1], gone[#gone]
end
redis.call('ZADD', KEYS[1], floorScore, '\\0' .. floorId)
return 1`;

// KEYS[1] timeline: a complete timeline (marker "\0") gets the marker "\0\0".
const MARK_INCOMPLETE = `
if redis.call('ZSCORE', KEYS[1], '\\0') then
  redis.call('ZREM', KEYS[1], '\\0')
  redis.call('ZADD', KEYS[1], -1, '\\0\\0')
end
return 1`;

/** The PUSH script as an ioredis command: sent by its SHA (EVALSHA), the text only once. */
type WithPush = Redis & {
  kithTimelinePush(key: string, ...args: string[]): Promise<number>;
  kithTimelineMarkIncomplete(key: string): Promise<number>;
};

/** Timelines as Redis sorted sets (score = time, member = id), under `prefix`. */
export class RedisTimelineStore implements TimelineStore {
  readonly #redis: WithPush;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('kithTimelinePush', { numberOfKeys: 1, lua: PUSH });
    redis.defineCommand('kithTimelineMarkIncomplete', { numberOfKeys: 1, lua: MARK_INCOMPLETE });
    this.#redis = redis as WithPush;
    this.#prefix = prefix;
  }

  async push(
    key: string,
    entries: readonly TimelineEntry[],
    opts: { cap: number; onlyIfExists?: boolean },
  ) {
    const args = entries.flatMap((e) => [String(e.score), e.id]);
    const written = await this.#redis.kithTimelinePush(
      this.#prefix + key,
      String(opts.cap),
      opts.onlyIfExists ? '1' : '0',
      ...args,
    );
    return written === 1;
  }

  async replace(key: string, entries: readonly TimelineEntry[], cap: number) {
    const args = entries.flatMap((e) => [String(e.score), e.id]);
    await this.#redis.kithTimelinePush(this.#prefix + key, String(cap), '2', ...args);
  }

  async range(key: string, opts: { limit: number; before?: TimelineEntry }) {
    return (await this.window(key, opts))?.entries;
  }

  async window(key: string, opts: { limit: number; before?: TimelineEntry }) {
    const { before, limit } = opts;
    // Inclusive of the cursor's score, then ties are cut by id: equal scores sort by id in Redis too.
    const max = before ? String(before.score) : '+inf';
    const extra = before ? 32 : 0;
    const k = this.#prefix + key;
    // The lowest member is always the marker: it tells at once whether the timeline exists
    // and whether it has a floor.
    const replies = await this.#redis
      .pipeline()
      .zrange(k, '0', '0')
      .zrange(k, max, '0', 'BYSCORE', 'REV', 'LIMIT', 0, limit + extra, 'WITHSCORES')
      .exec();
    const [[markerError, marker], [rangeError, raw]] = (replies ?? [
      [new Error('aborted')],
      [],
    ]) as [[Error | null, string[]], [Error | null, string[]]];
    for (const err of [markerError, rangeError]) if (err) throw err;
    if (marker.length === 0) return undefined;
    const entries: TimelineEntry[] = [];
    for (let i = 0; i < raw.length && entries.length < limit; i += 2) {
      const entry = { id: raw[i]!, score: Number(raw[i + 1]) };
      if (entry.id.startsWith(MARKER)) continue;
      if (before && !(entry.score < before.score || entry.id < before.id)) continue;
      entries.push(entry);
    }
    return { entries, complete: marker[0] === MARKER };
  }

  async markIncomplete(key: string) {
    await this.#redis.kithTimelineMarkIncomplete(this.#prefix + key);
  }

  async remove(key: string, ids: readonly string[]) {
    if (ids.length > 0) await this.#redis.zrem(this.#prefix + key, ...ids);
  }

  async exists(key: string) {
    return (await this.#redis.exists(this.#prefix + key)) === 1;
  }

  async size(key: string) {
    return Math.max(0, (await this.#redis.zcard(this.#prefix + key)) - 1);
  }

  async delete(...keys: string[]) {
    if (keys.length > 0) await this.#redis.del(...keys.map((k) => this.#prefix + k));
  }

  async close() {
    // The connection is shared and closed by its owner (the context).
  }
}
