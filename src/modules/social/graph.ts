import type { Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { FriendRequestsRepository } from './friend-requests.repository.ts';
import { SocialRepository } from './social.repository.ts';
import { recordEvent } from '../../events/outbox.ts';

/**
 * Graph changes that must keep the profile counters exact. Each runs inside the caller's
 * transaction (`trx`) and only counts what it actually changed, so repeats are harmless.
 */
export class GraphWriter {
  readonly #trx: Kysely<DB>;
  readonly #social: SocialRepository;
  readonly #requests: FriendRequestsRepository;
  readonly #users: UsersRepository;

  constructor(trx: Kysely<DB>) {
    this.#trx = trx;
    this.#social = new SocialRepository(trx);
    this.#requests = new FriendRequestsRepository(trx);
    this.#users = new UsersRepository(trx);
  }

  async follow(followerId: string, followeeId: string): Promise<boolean> {
    const created = await this.#social.addFollow(followerId, followeeId);
    if (created) {
      await this.#users.adjustCounts([
        { userId: followerId, column: 'following_count', delta: 1 },
        { userId: followeeId, column: 'follower_count', delta: 1 },
      ]);
      await recordEvent(this.#trx, 'follow.created', {
        follower_id: followerId,
        followee_id: followeeId,
      });
    }
    return created;
  }

  async unfollow(followerId: string, followeeId: string): Promise<boolean> {
    const removed = await this.#social.removeFollow(followerId, followeeId);
    if (removed) {
      await this.#users.adjustCounts([
        { userId: followerId, column: 'following_count', delta: -1 },
        { userId: followeeId, column: 'follower_count', delta: -1 },
      ]);
      await recordEvent(this.#trx, 'follow.removed', {
        follower_id: followerId,
        followee_id: followeeId,
      });
    }
    return removed;
  }

  /** Friends, following each other, with no request left pending between them. */
  async befriend(a: string, b: string): Promise<void> {
    if (await this.#social.addFriendship(a, b)) {
      await this.#users.adjustCounts([
        { userId: a, column: 'friend_count', delta: 1 },
        { userId: b, column: 'friend_count', delta: 1 },
      ]);
    }
    await this.follow(a, b);
    await this.follow(b, a);
    await this.#requests.cancelPendingBetween(a, b);
  }

  /** Ends the friendship and the follows that came with it; false when they were not friends. */
  async unfriend(a: string, b: string): Promise<boolean> {
    if (!(await this.#social.removeFriendship(a, b))) return false;
    await this.#users.adjustCounts([
      { userId: a, column: 'friend_count', delta: -1 },
      { userId: b, column: 'friend_count', delta: -1 },
    ]);
    await recordEvent(this.#trx, 'friendship.removed', { user_id: a, friend_id: b });
    await this.unfollow(a, b);
    await this.unfollow(b, a);
    return true;
  }

  /** Removes every tie between two users: follows, friendship, pending requests. */
  async severAll(a: string, b: string): Promise<void> {
    await this.unfriend(a, b);
    await this.unfollow(a, b);
    await this.unfollow(b, a);
    await this.#requests.cancelPendingBetween(a, b);
  }
}
