import { sql, type Kysely } from 'kysely';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB } from '../../infra/db/schema.ts';

/** Everyone a user has a tie with, as reading needs it: what to show them, and whose posts. */
export interface Relations {
  /** Users they follow (friends included: friends follow each other). */
  following: ReadonlySet<string>;
  friends: ReadonlySet<string>;
  /** Users in a block with them, either way. */
  blocked: ReadonlySet<string>;
  /** Users they muted. */
  muted: ReadonlySet<string>;
  /** Users they follow whose posts are not all fanned out (big accounts): merged when read. */
  big: ReadonlySet<string>;
}

type Kind = 'following' | 'friends' | 'blocked' | 'muted' | 'big';
type Stored = Record<Kind, string[]>;

const TTL_SECONDS = 60;
const key = (userId: string) => `relations:${userId}`;

/**
 * A user's relations, read in one query and cached. Every graph change calls `changed` for both
 * users after its transaction commits; the short TTL bounds what a lost invalidation (a cache
 * outage at that moment) can leave behind.
 */
export class RelationsCache {
  readonly #db: Kysely<DB>;
  readonly #cache: Cache;
  readonly #onChanged: (userIds: string[]) => Promise<void>;

  /** `onChanged`: what else depends on these users' ties (their home timelines). */
  constructor(
    db: Kysely<DB>,
    cache: Cache,
    onChanged: (userIds: string[]) => Promise<void> = async () => {},
  ) {
    this.#db = db;
    this.#cache = cache;
    this.#onChanged = onChanged;
  }

  async of(userId: string): Promise<Relations> {
    const stored = (await this.#cache.get<Stored>(key(userId))) ?? (await this.#load(userId));
    return {
      following: new Set(stored.following),
      friends: new Set(stored.friends),
      blocked: new Set(stored.blocked),
      muted: new Set(stored.muted),
      big: new Set(stored.big ?? []),
    };
  }

  /** Forgets the cached relations of users whose ties just changed. */
  async changed(...userIds: string[]): Promise<void> {
    await Promise.all([this.#cache.delete(...userIds.map(key)), this.#onChanged(userIds)]);
  }

  /**
   * Forgets cached relations whose inputs changed without a graph change (a followee became a
   * big account): nothing else depends on that.
   */
  async forget(...userIds: string[]): Promise<void> {
    if (userIds.length > 0) await this.#cache.delete(...userIds.map(key));
  }

  async #load(userId: string): Promise<Stored> {
    const { rows } = await sql<{ kind: Kind; id: string }>`
      select 'following' as kind, followee_id as id from follows where follower_id = ${userId}
      union all select 'friends', friend_id from friendships where user_id = ${userId}
      union all select 'blocked', blocked_id from blocks where blocker_id = ${userId}
      union all select 'blocked', blocker_id from blocks where blocked_id = ${userId}
      union all select 'muted', muted_id from mutes where muter_id = ${userId}
      union all select 'big', f.followee_id from follows f where f.follower_id = ${userId}
        and exists (select 1 from posts p where p.author_id = f.followee_id and not p.fan_out)`.execute(
      this.#db,
    );
    const stored: Stored = { following: [], friends: [], blocked: [], muted: [], big: [] };
    for (const r of rows) stored[r.kind].push(r.id);
    await this.#cache.set(key(userId), stored, TTL_SECONDS);
    return stored;
  }
}
