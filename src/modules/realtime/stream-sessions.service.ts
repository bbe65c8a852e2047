import type { Principal } from '../../http/auth.ts';
import type { AccountStatusCache } from '../accounts/account-status.cache.ts';
import type { StreamHub } from './hub.ts';
import type { StreamEvent } from './stream-log.repository.ts';

/** Why the server ends a stream. */
export type StreamEnd = 'token_expired' | 'shutdown' | AccountEnd;
/** Why the account's streams end everywhere at once. */
export type AccountEnd = 'account_suspended' | 'account_deactivated';

/**
 * The streams open on this node, whatever their protocol (kith's WebSocket and SSE, Mastodon's
 * streaming API): each is attached to the hub, counted against STREAMS_PER_USER, and ended
 * when its token expires, when its account is suspended or deactivated (heard from any node) and
 * on shutdown.
 */
export class StreamSessions {
  readonly #hub: StreamHub;
  readonly #perUser: number;
  readonly #closers = new Set<() => void>();
  readonly #suspendedClosers = new Map<string, Set<(why: AccountEnd) => void>>();
  readonly #open = new Map<string, number>();
  readonly #stopListening: () => void;

  constructor(hub: StreamHub, accountStatus: AccountStatusCache, perUser: number) {
    this.#hub = hub;
    this.#perUser = perUser;
    this.#stopListening = accountStatus.onChange(({ user_id, suspended, deactivated }) => {
      const why = suspended ? 'account_suspended' : deactivated ? 'account_deactivated' : undefined;
      if (why) for (const close of this.#suspendedClosers.get(user_id) ?? []) close(why);
    });
  }

  /** Whether the user holds as many streams on this node as they may. */
  atCap(userId: string): boolean {
    return (this.#open.get(userId) ?? 0) >= this.#perUser;
  }

  /**
   * Attaches a connection of `principal` after `since` (see StreamHub.attach) and arranges its
   * end. Returns what detaches it, or undefined when the user is at the cap (WebSocket upgrades
   * racing past the check made before the upgrade).
   */
  open(
    principal: Principal,
    since: number | undefined,
    send: (e: StreamEvent) => void,
    end: (reason: StreamEnd) => void,
  ): (() => void) | undefined {
    const { userId } = principal;
    if (this.atCap(userId)) return undefined;
    this.#open.set(userId, (this.#open.get(userId) ?? 0) + 1);
    const detach = this.#hub.attach({ userId, send }, since);
    const left = (principal.expiresAt ?? Infinity) - Date.now();
    const expiry = setTimeout(() => end('token_expired'), Math.min(left, 2 ** 31 - 1));
    const shutdown = () => end('shutdown');
    this.#closers.add(shutdown);
    const suspend = (why: AccountEnd) => end(why);
    const mine = this.#suspendedClosers.get(userId) ?? new Set();
    this.#suspendedClosers.set(userId, mine.add(suspend));
    return () => {
      clearTimeout(expiry);
      this.#closers.delete(shutdown);
      mine.delete(suspend);
      if (mine.size === 0 && this.#suspendedClosers.get(userId) === mine)
        this.#suspendedClosers.delete(userId);
      detach();
      const count = (this.#open.get(userId) ?? 1) - 1;
      if (count > 0) this.#open.set(userId, count);
      else this.#open.delete(userId);
    };
  }

  /** Ends every stream (server shutdown): before the server waits for its connections. */
  closeAll(): void {
    for (const close of [...this.#closers]) close();
  }

  /** Stops listening for suspensions and deactivations. */
  stop(): void {
    this.#stopListening();
  }
}
