import type { UserRow } from '../../infra/db/schema.ts';
import type { Cache } from '../../infra/cache/cache.ts';
import { readManyThrough } from '../../infra/cache/read-through.ts';
import type { UsersRepository } from './users.repository.ts';

/**
 * What a client shows of a user beside their posts (a Mastodon Account): the profile and its
 * counters, nothing private. `created_at` is an ISO string once it went through the cache.
 */
export type UserCard = Pick<
  UserRow,
  | 'id'
  | 'username'
  | 'display_name'
  | 'bio'
  | 'avatar_url'
  | 'header_url'
  | 'post_count'
  | 'follower_count'
  | 'following_count'
  | 'friend_count'
> & { created_at: Date | string };

/**
 * Counters change with every follow and post: a card may show them up to this old. The
 * profile itself (name, bio, pictures) is dropped from the cache when it changes.
 */
export const CARD_TTL_SECONDS = 30;
const cardKey = (id: string) => `user-card:${id}`;

const cardOf = (u: UserCard): UserCard => ({
  id: u.id,
  username: u.username,
  display_name: u.display_name,
  bio: u.bio,
  avatar_url: u.avatar_url,
  header_url: u.header_url,
  post_count: u.post_count,
  follower_count: u.follower_count,
  following_count: u.following_count,
  friend_count: u.friend_count,
  created_at: u.created_at,
});

/**
 * Users' cards by id, for presenting pages of posts without SQL: one cache round trip, the
 * misses in one query. Suspended users are left out, as in `UsersService.refsById`.
 */
export class UserCards {
  readonly #cache: Cache;
  readonly #users: UsersRepository;

  constructor(cache: Cache, users: UsersRepository) {
    this.#cache = cache;
    this.#users = users;
  }

  byIds(ids: readonly string[]): Promise<Map<string, UserCard>> {
    return readManyThrough(
      this.#cache,
      ids,
      cardKey,
      async (missing) =>
        new Map(
          (await this.#users.findManyByIds(missing))
            .filter((r) => !r.suspended_at)
            .map((r) => [r.id, cardOf(r)]),
        ),
      CARD_TTL_SECONDS,
    );
  }

  /** Drops a user's card (their profile, pictures or standing changed). */
  forget(userId: string): Promise<void> {
    return this.#cache.delete(cardKey(userId));
  }
}
