import type { Kysely } from 'kysely';
import { LRUCache } from 'lru-cache';
import { ForbiddenError, UnauthorizedError } from '../../errors.ts';
import type { Principal } from '../../http/auth.ts';
import type { BroadcastMessage, EventBus, Subscription } from '../../infra/bus/bus.ts';
import type { DB } from '../../infra/db/schema.ts';

/**
 * Broadcast to every API node when an account is suspended or unsuspended, deactivated (its
 * deletion asked for) or reactivated (the deletion cancelled by logging in).
 */
export const ACCOUNT_STATUS_BROADCAST = 'account.status';

export interface AccountStatusMessage {
  user_id: string;
  suspended: boolean;
  /** True when the account was just deactivated: its streams end too. */
  deactivated?: boolean;
}

/**
 * Safety net only: the broadcast invalidates an entry at once on every node; should one be lost
 * (broker down), a node still reads the account again within this time.
 */
const TTL_MS = 5_000;

/** The error every request of a suspended account gets. */
export const accountSuspended = () =>
  new ForbiddenError('account_suspended', 'This account is suspended.');

interface Status {
  suspended: boolean;
  /** Its deletion was asked for: every token is refused until a login cancels it. */
  deactivated: boolean;
  /** Tokens issued up to then (ms since the epoch) are refused; 0 when none were ended. */
  sessionsRevokedAt: number;
}

/**
 * Whether accounts are suspended (and since when their old tokens are void), as this node last
 * read it. Every authenticated request asks, whichever kind of token it carried, so it must not
 * cost a query each time; a suspension must still reach every node at once, hence the broadcast
 * that drops the entry everywhere.
 */
export class AccountStatusCache {
  readonly #db: Kysely<DB>;
  readonly #status = new LRUCache<string, Status>({ max: 100_000, ttl: TTL_MS });
  readonly #listeners = new Set<(message: AccountStatusMessage) => void>();

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async #read(userId: string): Promise<Status> {
    const known = this.#status.get(userId);
    if (known) return known;
    const row = await this.#db
      .selectFrom('users')
      .select(['suspended_at', 'deactivated_at', 'sessions_revoked_at'])
      .where('id', '=', userId)
      .executeTakeFirst();
    const status = {
      suspended: row?.suspended_at != null,
      deactivated: row?.deactivated_at != null,
      sessionsRevokedAt: row?.sessions_revoked_at?.getTime() ?? 0,
    };
    this.#status.set(userId, status);
    return status;
  }

  async isSuspended(userId: string): Promise<boolean> {
    return (await this.#read(userId)).suspended;
  }

  /**
   * Throws `account_suspended` (403) for a suspended account, `invalid_token` (401) for a
   * deactivated one (deletion asked for), and `session_revoked` (401) for a
   * token issued before a suspension ended its sessions (tokens carry whole seconds: one issued
   * in the very second of the suspension is refused too).
   */
  async assertActive(principal: Principal): Promise<void> {
    const status = await this.#read(principal.userId);
    if (status.suspended) throw accountSuspended();
    if (status.deactivated) {
      throw new UnauthorizedError('invalid_token', 'This account is deactivated (being deleted).');
    }
    if (principal.issuedAt !== undefined && principal.issuedAt <= status.sessionsRevokedAt)
      throw new UnauthorizedError('session_revoked', 'This session has been ended; sign in again.');
  }

  /** Tells every node (this one at once, the others through the bus) that the account changed. */
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
      () => this.#status.clear(),
    );
  }

  /** The next request reads the account again (the database has the truth). */
  #apply(message: AccountStatusMessage): void {
    this.#status.delete(message.user_id);
    for (const listener of this.#listeners) listener(message);
  }
}
