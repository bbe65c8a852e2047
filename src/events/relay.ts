import { sql, type Kysely } from 'kysely';
import type { DomainEvent, EventBus } from '../infra/bus/bus.ts';
import type { DB } from '../infra/db/schema.ts';
import type { Logger } from '../logger.ts';
import { idIn } from '../infra/db/sql.ts';

export interface RelayOptions {
  pollMs: number;
  /** Events claimed per round. */
  batchSize: number;
  /**
   * How long a claim holds before another relay may take the event over. A live relay renews
   * the claims of its publishes in flight every quarter of this, so only a dead relay's (a
   * SIGKILL, a lost host) lapse: its events are taken over within about this long.
   */
  leaseSeconds: number;
  /** Published events and processed marks older than this are purged. */
  retentionHours: number;
  /** Called for each event the bus accepted (metrics). */
  onPublished?: () => void;
  /** Other clean-up run with the purge (about once a minute): each module's expired rows. */
  housekeeping?: () => Promise<void>;
}

export interface RelayStats {
  published: number;
  failed: number;
}

const MAX_IN_FLIGHT = 500;
/** Longest pause between rounds while publishing fails: the relay retries within this of the
 * bus coming back (and at once when the bus reports its reconnection: see `wake`). */
const MAX_BACKOFF_MS = 1_000;
const PURGE_EVERY_MS = 60_000;

/**
 * Moves events from the outbox to the bus. Each event is claimed (so several relays share the
 * work), published, and marked published only once the bus accepted it — on RabbitMQ after the
 * broker confirmed, in process after the consumers ran. A crash or an outage leaves events
 * unpublished: they wait, then flow. Delivery is at-least-once; consumers de-duplicate.
 *
 * Claims are short leases renewed while the relay lives (a heartbeat), so a crashed relay's
 * events are free again within `leaseSeconds`, not after a fixed long lease. Each event is
 * marked published as soon as its confirm arrives (not at the next round), so a relay killed
 * after a confirm leaves at most the events whose mark was still on its way to be sent again.
 */
export class OutboxRelay {
  readonly #db: Kysely<DB>;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #opts: RelayOptions;
  readonly #inFlight = new Map<string, Promise<void>>();
  #done: string[] = [];
  #marking: Promise<void> | undefined;
  /** Failed publishes whose claims are being released: not to be renewed meanwhile. */
  readonly #releasing = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #renewer: NodeJS.Timeout | undefined;
  /** When the bus last accepted an event (or the relay started): for the publish-age metric. */
  #lastPublishAt = Date.now();
  #running = false;
  #failures = 0;
  #lastPurge = 0;
  readonly stats: RelayStats = { published: 0, failed: 0 };

  constructor(db: Kysely<DB>, bus: EventBus, log: Logger, opts: RelayOptions) {
    this.#db = db;
    this.#bus = bus;
    this.#log = log;
    this.#opts = opts;
  }

  start(): void {
    this.#running = true;
    this.#lastPublishAt = Date.now();
    const every = Math.max(50, (this.#opts.leaseSeconds * 1_000) / 4);
    this.#renewer = setInterval(() => void this.#renew(), every);
    this.#schedule(0);
  }

  /** Stops claiming, waits for publishes in flight, records what they achieved. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await Promise.allSettled(this.#inFlight.values());
    clearInterval(this.#renewer);
    await this.#flush();
  }

  /** A round now (the bus just reconnected): what failed during the outage goes out at once. */
  wake(): void {
    if (!this.#running) return;
    this.#failures = 0;
    clearTimeout(this.#timer);
    this.#schedule(0);
  }

  /** Seconds since the bus last accepted an event from this relay (or since it started);
   * undefined when the relay does not run in this process. */
  lastPublishAgeSeconds(): number | undefined {
    return this.#running ? (Date.now() - this.#lastPublishAt) / 1_000 : undefined;
  }

  /** One round: claim a batch and start publishing it. Returns how many events were claimed. */
  async tick(): Promise<number> {
    await this.#flush();
    if (this.#inFlight.size >= MAX_IN_FLIGHT) return 0;
    const events = await this.#claim(
      Math.min(this.#opts.batchSize, MAX_IN_FLIGHT - this.#inFlight.size),
    );
    for (const event of events) {
      const delivery = this.#bus
        .publish([event])
        .then(
          () => {
            this.#done.push(event.id);
            void this.#markSoon();
            this.#lastPublishAt = Date.now();
            this.stats.published += 1;
            this.#opts.onPublished?.();
            this.#failures = 0;
          },
          (err: unknown) => this.#failed(event, err),
        )
        .finally(() => this.#inFlight.delete(event.id));
      this.#inFlight.set(event.id, delivery);
    }
    await this.#purgeNow();
    return events.length;
  }

  /** Resolves when every event claimed so far has been published or has failed. */
  async drain(): Promise<void> {
    await Promise.allSettled(this.#inFlight.values());
    await this.#flush();
  }

  /** Unpublished events and the age of the oldest, for metrics. */
  async backlog(): Promise<{ count: number; oldestSeconds: number }> {
    const row = await this.#db
      .selectFrom('outbox')
      .select([
        sql<number>`count(*)::int`.as('count'),
        sql<number>`coalesce(extract(epoch from now() - min(created_at)), 0)::float8`.as('age'),
      ])
      .where('published_at', 'is', null)
      .executeTakeFirstOrThrow();
    return { count: row.count, oldestSeconds: row.age };
  }

  #schedule(delayMs: number): void {
    if (!this.#running) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.tick().then(
        // Straight on while events flow; back off when idle or while publishing fails.
        (claimed) => this.#schedule(claimed > 0 && this.#failures === 0 ? 0 : this.#backoff()),
        (err: unknown) => {
          this.#failures += 1;
          this.#log.warn({ err }, 'outbox relay round failed');
          this.#schedule(this.#backoff());
        },
      );
    }, delayMs);
  }

  #backoff(): number {
    return Math.min(
      this.#opts.pollMs * 2 ** Math.min(this.#failures, 10),
      Math.max(this.#opts.pollMs, MAX_BACKOFF_MS),
    );
  }

  async #claim(limit: number): Promise<DomainEvent[]> {
    if (limit <= 0) return [];
    const busy = [...this.#inFlight.keys()];
    const { rows } = await sql<{
      id: string;
      type: string;
      data: Record<string, unknown>;
      created_at: Date;
    }>`
      update outbox set claimed_until = now() + make_interval(secs => ${this.#opts.leaseSeconds}), attempts = attempts + 1
      where id in (
        select id from outbox
        where published_at is null
          and (claimed_until is null or claimed_until < now())
          and not (${idIn('id', busy)})
        order by id
        limit ${limit}
        for update skip locked)
      returning id, type, data, created_at`.execute(this.#db);
    return rows
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((r) => ({
        id: r.id,
        type: r.type,
        data: r.data,
        occurred_at: r.created_at.toISOString(),
      }));
  }

  async #failed(event: DomainEvent, err: unknown): Promise<void> {
    this.#releasing.add(event.id);
    this.#failures += 1;
    this.stats.failed += 1;
    this.#log.warn(
      { err, event_id: event.id, type: event.type },
      'event not published; will retry',
    );
    // Release the claim: the relay's next round (after a back-off of at most a second, or at
    // once when the bus reconnects) or any other relay may take the event again.
    await this.#db
      .updateTable('outbox')
      .set({
        claimed_until: null,
        last_error: String((err as Error)?.message ?? err).slice(0, 500),
      })
      .where('id', '=', event.id)
      .execute()
      .catch(() => {}) // the lease expires on its own if the database is unreachable too
      .finally(() => this.#releasing.delete(event.id));
  }

  /** Extends the leases of the events being published, so that no other relay takes them. */
  async #renew(): Promise<void> {
    const ids = [...this.#inFlight.keys()].filter((id) => !this.#releasing.has(id));
    if (ids.length === 0) return;
    try {
      await sql`update outbox set claimed_until = now() + make_interval(secs => ${this.#opts.leaseSeconds})
        where published_at is null and claimed_until is not null and ${idIn('id', ids)}`.execute(
        this.#db,
      );
    } catch (err) {
      this.#log.warn({ err }, 'could not renew outbox claims');
    }
  }

  /** Marks confirmed events published now, one write at a time (the next takes what piled up). */
  async #markSoon(): Promise<void> {
    while (this.#marking) await this.#marking;
    if (this.#done.length === 0) return;
    this.#marking = this.#write()
      .catch((err: unknown) => this.#log.warn({ err }, 'could not mark events published'))
      .finally(() => (this.#marking = undefined));
    await this.#marking;
  }

  /** Marks what is confirmed so far, after any marking under way. */
  async #flush(): Promise<void> {
    while (this.#marking) await this.#marking;
    await this.#write();
  }

  async #write(): Promise<void> {
    if (this.#done.length === 0) return;
    const ids = this.#done;
    this.#done = [];
    try {
      await this.#db
        .updateTable('outbox')
        .set({ published_at: new Date(), claimed_until: null })
        .where(idIn('id', ids))
        .execute();
    } catch (err) {
      this.#done.push(...ids); // published already; marking them is retried next round
      throw err;
    }
  }

  async #purgeNow(): Promise<void> {
    if (Date.now() - this.#lastPurge < PURGE_EVERY_MS) return;
    this.#lastPurge = Date.now();
    const cutoff = new Date(Date.now() - this.#opts.retentionHours * 3_600_000);
    await this.#db.deleteFrom('outbox').where('published_at', '<', cutoff).execute();
    await this.#db.deleteFrom('processed_events').where('processed_at', '<', cutoff).execute();
    await this.#opts.housekeeping?.();
  }
}
