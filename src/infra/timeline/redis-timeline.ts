import type { Redis } from 'ioredis';
import type { TimelineEntry, TimelineStore } from './timeline.ts';

// An empty sorted set cannot exist in Redis; this member (score -1, below every real score)
// marks a timeline that was built and is empty. It is never returned.
const MARKER = '';

// KEYS[1] timeline; ARGV[1] cap; ARGV[2] "1" = only if it exists; then score, id pairs.
// Atomic, so a timeline evicted between a check and the write is never half re-created.
const PUSH = `
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 3, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('ZREM', KEYS[1], '')
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if extra > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, extra - 1) end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('ZADD', KEYS[1], -1, '') end
return 1`;

/** The PUSH script as an ioredis command: sent by its SHA (EVALSHA), the text only once. */
type WithPush = Redis & {
  kithTimelinePush(key: string, ...args: string[]): Promise<number>;
};

/** Timelines as Redis sorted sets (score = time, member = id), under `prefix`. */
export class RedisTimelineStore implements TimelineStore {
  readonly #redis: WithPush;
  readonly #prefix: string;

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('kithTimelinePush', { numberOfKeys: 1, lua: PUSH });
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
    const k = this.#prefix + key;
    const newest = [...entries]
      .sort((a, b) => b.score - a.score || (a.id < b.id ? 1 : -1))
      .slice(0, cap);
    const multi = this.#redis.multi().del(k).zadd(k, -1, MARKER);
    if (newest.length > 0) multi.zadd(k, ...newest.flatMap((e) => [e.score, e.id])).zrem(k, MARKER);
    await multi.exec();
  }

  async range(key: string, opts: { limit: number; before?: TimelineEntry }) {
    const { before, limit } = opts;
    // Inclusive of the cursor's score, then ties are cut by id: equal scores sort by id in Redis too.
    const max = before ? String(before.score) : '+inf';
    const extra = before ? 32 : 0;
    const raw = await this.#redis.zrange(
      this.#prefix + key,
      max,
      '0',
      'BYSCORE',
      'REV',
      'LIMIT',
      0,
      limit + extra,
      'WITHSCORES',
    );
    const out: TimelineEntry[] = [];
    for (let i = 0; i < raw.length && out.length < limit; i += 2) {
      const entry = { id: raw[i]!, score: Number(raw[i + 1]) };
      if (entry.id === MARKER) continue;
      if (before && !(entry.score < before.score || entry.id < before.id)) continue;
      out.push(entry);
    }
    return out;
  }

  async remove(key: string, ids: readonly string[]) {
    if (ids.length > 0) await this.#redis.zrem(this.#prefix + key, ...ids);
  }

  async exists(key: string) {
    return (await this.#redis.exists(this.#prefix + key)) === 1;
  }

  async size(key: string) {
    const n = await this.#redis.zcard(this.#prefix + key);
    const marked = await this.#redis.zscore(this.#prefix + key, MARKER);
    return marked === null ? n : n - 1;
  }

  async delete(...keys: string[]) {
    if (keys.length > 0) await this.#redis.del(...keys.map((k) => this.#prefix + k));
  }

  async close() {
    // The connection is shared and closed by its owner (the context).
  }
}
