import type { Redis } from 'ioredis';
import type { TimelineEntry, TimelineStore } from './timeline.ts';

// Every timeline holds a marker member: "\0" + the id of its floor entry, scored like it (the
// floor is the newest entry ever trimmed off; "\0" and -1 when none was; "\0\0" and -1 when
// none was but the timeline was marked incomplete). The timeline holds
// every entry newer than its floor, so older ones are never added back (readers get those from
// SQL), and an emptied timeline still exists. The marker sorts first and is never returned.
const MARKER = '\0';

// push(key): ARGV[1] cap; ARGV[2] mode: 0 push, 1 push only if it exists, 2 replace; then
// score, id pairs. Atomic, so concurrent pushes and trims never leave a gap above the floor.
// Scores stay strings: Lua would print big numbers with too few digits. Fan-out runs this for
// every follower, so the usual case (one entry, nothing to trim) is three calls: read the
// marker (which also says whether the timeline exists), add, count. The marker stays put
// unless the floor rises.
const PUSH_ONE = `
local function push(key)
  if ARGV[2] == '2' then redis.call('DEL', key) end
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[1] == nil and ARGV[2] == '1' then return 0 end
  local floor, floorId = -1, ''
  if first[1] and string.sub(first[1], 1, 1) == '\\0' then
    floor, floorId = tonumber(first[2]), string.sub(first[1], 2)
  else
    redis.call('ZADD', key, -1, '\\0')
  end
  local add = {}
  for i = 3, #ARGV, 2 do
    local score = tonumber(ARGV[i])
    if score > floor or (score == floor and ARGV[i + 1] > floorId) then
      add[#add + 1] = ARGV[i]
      add[#add + 1] = ARGV[i + 1]
    end
  end
  for i = 1, #add, 500 do
    redis.call('ZADD', key, unpack(add, i, math.min(i + 499, #add)))
  end
  -- Rank 0 is the marker; ranks 1 to extra are the oldest entries, beyond the cap.
  local extra = redis.call('ZCARD', key) - 1 - tonumber(ARGV[1])
  if extra > 0 then
    local newest = redis.call('ZRANGE', key, extra, extra, 'WITHSCORES')
    redis.call('ZREMRANGEBYRANK', key, 0, extra)
    redis.call('ZADD', key, newest[2], '\\0' .. newest[1])
  end
  return 1
end
`;

// KEYS[1] timeline.
const PUSH = `${PUSH_ONE} return push(KEYS[1])`;

// Every KEYS[i] a timeline: one script call fans a post out to a whole batch of followers
// (a reply per key: 1 took it, 0 absent with mode 1). A script runs atomically, so a batch
// holds Redis for its duration: batches of about a thousand keep that to milliseconds.
const PUSH_MANY = `${PUSH_ONE}
local took = {}
for i, key in ipairs(KEYS) do took[i] = push(key) end
return took`;

// Every KEYS[i] a timeline, ARGV the ids to take out of each; in slices, as Lua's unpack has
// a bounded stack. ZREM on an absent key creates nothing.
const REMOVE_MANY = `
for _, key in ipairs(KEYS) do
  for i = 1, #ARGV, 500 do
    redis.call('ZREM', key, unpack(ARGV, i, math.min(i + 499, #ARGV)))
  end
end
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
  kithTimelinePushMany(keyCount: number, ...keysThenArgs: string[]): Promise<number[]>;
  kithTimelineRemoveMany(keyCount: number, ...keysThenIds: string[]): Promise<number>;
  kithTimelineMarkIncomplete(key: string): Promise<number>;
};

/** Timelines as Redis sorted sets (score = time, member = id), under `prefix`. */
export class RedisTimelineStore implements TimelineStore {
  readonly #redis: WithPush;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('kithTimelinePush', { numberOfKeys: 1, lua: PUSH });
    // No fixed key count: the first argument says how many keys follow.
    redis.defineCommand('kithTimelinePushMany', { lua: PUSH_MANY });
    redis.defineCommand('kithTimelineRemoveMany', { lua: REMOVE_MANY });
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

  async pushMany(
    keys: readonly string[],
    entries: readonly TimelineEntry[],
    opts: { cap: number; onlyIfExists?: boolean },
  ) {
    if (keys.length === 0) return [];
    const took = await this.#redis.kithTimelinePushMany(
      keys.length,
      ...keys.map((k) => this.#prefix + k),
      String(opts.cap),
      opts.onlyIfExists ? '1' : '0',
      ...entries.flatMap((e) => [String(e.score), e.id]),
    );
    return took.map((t) => t === 1);
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

  async removeMany(keys: readonly string[], ids: readonly string[]) {
    if (keys.length === 0 || ids.length === 0) return;
    await this.#redis.kithTimelineRemoveMany(
      keys.length,
      ...keys.map((k) => this.#prefix + k),
      ...ids,
    );
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
