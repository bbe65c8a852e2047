import type { Logger } from '../../logger.ts';
import type { Delivery, StreamEvent, StreamLog } from './stream-log.repository.ts';

/** One open stream (a WebSocket or an SSE response) of one user. */
export interface StreamConnection {
  readonly userId: string;
  /** Writes one event; must not throw. */
  send(event: StreamEvent): void;
}

interface Attached {
  conn: StreamConnection;
  /** Seq of the last event written to this connection. */
  last: number;
  /** Work for this connection runs in order: its events are written in seq order. */
  chain: Promise<void>;
}

const PAGE = 500;

/**
 * The streams open on this API node. Events arrive from broadcasts (usually carrying the events
 * themselves) and are written to each connection in seq order with no duplicates: anything
 * missing before an event (a broadcast lost or out of order) is read from the log first.
 * `check()` (run periodically) compares every user's newest seq with what their connections
 * have, so even a lost broadcast is delivered within one check interval.
 */
export class StreamHub {
  readonly #log: StreamLog;
  readonly #logger: Logger;
  readonly #byUser = new Map<string, Set<Attached>>();

  constructor(log: StreamLog, logger: Logger) {
    this.#log = log;
    this.#logger = logger;
  }

  get connections(): number {
    let n = 0;
    for (const set of this.#byUser.values()) n += set.size;
    return n;
  }

  /**
   * Starts a connection after `since` (the last seq the client saw). Without it, the client
   * gets a `ready` event carrying the newest seq, then new events. When events after `since`
   * were already purged (or `since` is ahead of the log), it gets a `resync` event carrying the
   * newest seq, then new events.
   */
  attach(conn: StreamConnection, since: number | undefined): () => void {
    const entry: Attached = { conn, last: Number.MAX_SAFE_INTEGER, chain: Promise.resolve() };
    let set = this.#byUser.get(conn.userId);
    if (!set) this.#byUser.set(conn.userId, (set = new Set()));
    set.add(entry);
    this.#enqueue(entry, async () => {
      const { last, oldest } = await this.#log.bounds(conn.userId);
      const continuous =
        since !== undefined &&
        since <= last &&
        (since === last || (oldest ?? Infinity) <= since + 1);
      if (!continuous) {
        entry.last = last;
        // Either way the client learns where it stands: the seq to resume from later.
        conn.send({ seq: last, type: since === undefined ? 'ready' : 'resync', data: {} });
        return;
      }
      entry.last = since;
      await this.#fill(entry, last);
    });
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.#byUser.get(conn.userId) === set) this.#byUser.delete(conn.userId);
    };
  }

  /** Events committed somewhere (broadcast from any node). */
  deliver(events: readonly Delivery[]): void {
    for (const event of events) {
      const set = this.#byUser.get(event.user_id);
      if (!set) continue;
      for (const entry of set) {
        this.#enqueue(entry, async () => {
          if (event.seq <= entry.last) return;
          if (event.seq > entry.last + 1) await this.#fill(entry, event.seq - 1);
          if (event.seq !== entry.last + 1) return;
          entry.conn.send({ seq: event.seq, type: event.type, data: event.data });
          entry.last = event.seq;
        });
      }
    }
  }

  /** Catches every connection up with the log (the safety net for lost broadcasts). */
  async check(): Promise<void> {
    const newest = await this.#log.lastSeqs([...this.#byUser.keys()]);
    for (const [userId, set] of this.#byUser) {
      const last = newest.get(userId) ?? 0;
      for (const entry of set) {
        if (last > entry.last) this.#enqueue(entry, () => this.#fill(entry, last));
      }
    }
  }

  /** Writes the logged events after `entry.last` up to `upTo`. */
  async #fill(entry: Attached, upTo: number): Promise<void> {
    while (entry.last < upTo) {
      const events = await this.#log.since(
        entry.conn.userId,
        entry.last,
        Math.min(PAGE, upTo - entry.last),
      );
      if (events.length === 0) return;
      for (const e of events) {
        if (e.seq !== entry.last + 1) {
          // Purged from under a slow client: it must reload.
          entry.conn.send({ seq: e.seq - 1, type: 'resync', data: {} });
        }
        entry.conn.send(e);
        entry.last = e.seq;
      }
    }
  }

  #enqueue(entry: Attached, work: () => Promise<void>): void {
    entry.chain = entry.chain.then(work).catch((err: unknown) => {
      this.#logger.warn(
        { err, user_id: entry.conn.userId },
        'stream delivery failed; next check retries',
      );
    });
  }
}
