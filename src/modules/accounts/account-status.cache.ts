import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { ForbiddenError } from '../../errors.ts';
import type { BroadcastMessage, EventBus, Subscription } from '../../infra/bus/bus.ts';
import type { DB } from '../../infra/db/schema.ts';

/** Broadcast to every API node when an account is suspended or unsuspended. */
export const ACCOUNT_STATUS_BROADCAST = 'account.status';

export interface AccountStatusMessage {
  user_id: string;
  suspended: boolean;
}

/**
 * Safety net only: the broadcast invalidates an entry at once on every node; should one be lost
 * (broker down), a node still reads the account again within this time.
 */
const TTL_MS = 5_000;

/** The error every request of a suspended account gets. */
export const accountSuspended = () =>
  new ForbiddenError('account_suspended', 'This account is suspended.');

/**
 * Whether accounts are suspended, as this node last read it. Every authenticated request asks,
 * whichever kind of token it carried, so it must not cost a query each time; suspension must
 * still reach every node at once, hence the broadcast that drops the entry everywhere.
 */
export class AccountStatusCache {
  readonly #db: Kysely<DB>;
  readonly #suspended = new LRUCache<string, boolean>({ max: 100_000, ttl: TTL_MS });
  readonly #listeners = new Set<(message: AccountStatusMessage) => void>();

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async isSuspended(userId: string): Promise<boolean> {
    const known = this.#suspended.get(userId);
    if (known !== undefined) return known;
    const row = await this.#db
      .selectFrom('users')
      .select('suspended_at')
      .where('id', '=', userId)
      .executeTakeFirst();
    const suspended = row?.suspended_at != null;
    this.#suspended.set(userId, suspended);
    return suspended;
  }

  /** Throws `account_suspended` (403) for a suspended account. */
  async assertActive(userId: string): Promise<void> {
    if (await this.isSuspended(userId)) throw accountSuspended();
  }

  /** Tells every node (this one included, through the bus) that the account changed. */
  async announce(bus: EventBus, message: AccountStatusMessage): Promise<void> {
    this.#apply(message);
    await bus.broadcast({ type: ACCOUNT_STATUS_BROADCAST, data: { ...message } });
  }

  /** Runs `listener` on every status change heard (e.g. to close a suspended user's streams). */
  onChange(listener: (message: AccountStatusMessage) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Listens to the broadcasts of every node; a resubscription after an outage forgets all. */
  listen(bus: EventBus): Promise<Subscription> {
    return bus.onBroadcast(
      (message: BroadcastMessage) => {
        if (message.type !== ACCOUNT_STATUS_BROADCAST) return;
        this.#apply(message.data as unknown as AccountStatusMessage);
      },
      () => this.#suspended.clear(),
    );
  }

  #apply(message: AccountStatusMessage): void {
    this.#suspended.set(message.user_id, message.suspended);
    for (const listener of this.#listeners) listener(message);
  }
}
