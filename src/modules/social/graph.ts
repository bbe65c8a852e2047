import type { Kysely } from 'kysely';
import type { CounterColumn, DB } from '../../infra/db/schema.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { FriendRequestsRepository } from './friend-requests.repository.ts';
import { SocialRepository } from './social.repository.ts';
import { recordEvent } from '../../events/outbox.ts';

type CounterChange = { userId: string; column: CounterColumn; delta: number };

/**
 * Graph changes that must keep the profile counters exact. Each runs inside the caller's
 * transaction (`trx`) and only counts what it actually changed, so repeats are harmless.
 *
 * The counters live on the users rows, and a popular account's row is where concurrent graph
 * writes meet. So the deltas are only added up while the edges change, and written by `run` as
 * the transaction's last statements (one UPDATE per user, in id order): the hot row stays
 * locked for the end of the transaction only, and two transactions lock rows in the same order.
 */
export class GraphWriter {
  readonly #trx: Kysely<DB>;
  readonly #social: SocialRepository;
  readonly #requests: FriendRequestsRepository;
  readonly #counts: CounterChange[] = [];

  private constructor(trx: Kysely<DB>) {
    this.#trx = trx;
    this.#social = new SocialRepository(trx);
    this.#requests = new FriendRequestsRepository(trx);
  }

  /** Runs `fn`'s graph changes in `trx`, then writes the counters they changed. */
  static async run<T>(trx: Kysely<DB>, fn: (graph: GraphWriter) => Promise<T>): Promise<T> {
    const graph = new GraphWriter(trx);
    const result = await fn(graph);
    await new UsersRepository(trx).adjustCounts(graph.#counts);
    return result;
  }

  #count(...changes: CounterChange[]): void {
    this.#counts.push(...changes);
  }

  async follow(followerId: string, followeeId: string): Promise<boolean> {
    const created = await this.#social.addFollow(followerId, followeeId);
    if (created) {
      this.#count(
        { userId: followerId, column: 'following_count', delta: 1 },
        { userId: followeeId, column: 'follower_count', delta: 1 },
      );
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
      this.#count(
        { userId: followerId, column: 'following_count', delta: -1 },
        { userId: followeeId, column: 'follower_count', delta: -1 },
      );
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
      this.#count(
        { userId: a, column: 'friend_count', delta: 1 },
        { userId: b, column: 'friend_count', delta: 1 },
      );
    }
    await this.follow(a, b);
    await this.follow(b, a);
    await this.#requests.cancelPendingBetween(a, b);
  }

  /** Ends the friendship and the follows that came with it; false when they were not friends. */
  async unfriend(a: string, b: string): Promise<boolean> {
    if (!(await this.#social.removeFriendship(a, b))) return false;
    this.#count(
      { userId: a, column: 'friend_count', delta: -1 },
      { userId: b, column: 'friend_count', delta: -1 },
    );
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
