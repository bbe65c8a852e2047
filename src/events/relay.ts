import { sql, type Kysely } from 'kysely';
import type { DomainEvent, EventBus } from '../infra/bus/bus.ts';
import type { DB } from '../infra/db/schema.ts';
import type { Logger } from '../logger.ts';
import { idIn } from '../infra/db/sql.ts';

export interface RelayOptions {
  pollMs: number;
  /** Events claimed per round. */
  batchSize: number;
  /** How long a claim holds before another relay may take the event over. */
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
const MAX_BACKOFF_MS = 5_000;
const PURGE_EVERY_MS = 60_000;

/**
 * Moves events from the outbox to the bus. Each event is claimed (so several relays share the
 * work), published, and marked published only once the bus accepted it — on RabbitMQ after the
 * broker confirmed, in process after the consumers ran. A crash or an outage leaves events
 * unpublished: they wait, then flow. Delivery is at-least-once; consumers de-duplicate.
 */
export class OutboxRelay {
  readonly #db: Kysely<DB>;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #opts: RelayOptions;
  readonly #inFlight = new Map<string, Promise<void>>();
  #done: string[] = [];
  #timer: NodeJS.Timeout | undefined;
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
    this.#schedule(0);
  }

  /** Stops claiming, waits for publishes in flight, records what they achieved. */
  async stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    await Promise.allSettled(this.#inFlight.values());
    await this.#flush();
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
    this.#failures += 1;
    this.stats.failed += 1;
    this.#log.warn(
      { err, event_id: event.id, type: event.type },
      'event not published; will retry',
    );
    // Hold the claim for the back-off; the event is claimable again after it.
    await this.#db
      .updateTable('outbox')
      .set({
        claimed_until: new Date(Date.now() + this.#backoff()),
        last_error: String((err as Error)?.message ?? err).slice(0, 500),
      })
      .where('id', '=', event.id)
      .execute()
      .catch(() => {}); // the lease expires on its own if the database is unreachable too
  }

  async #flush(): Promise<void> {
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
