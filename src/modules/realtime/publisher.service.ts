import type { Kysely } from 'kysely';
import type { EventBus } from '../../infra/bus/bus.ts';
import type { DB } from '../../infra/db/schema.ts';
import type { Logger } from '../../logger.ts';
import { sql } from 'kysely';
import { transaction } from '../../infra/db/transaction.ts';
import { StreamLog, type Delivery } from './stream-log.repository.ts';
import { setTimeout as delay } from 'node:timers/promises';

/** How long a write waits for its stream broadcast to leave (see StreamPublisher.publish). */
const PUBLISH_WAIT_MS = 200;

export const STREAM_BROADCAST = 'stream';

/**
 * Tells every API node about events just committed to users' streams (the bus's broadcast:
 * RabbitMQ fanout, or in process). Best effort: the log is the truth, and a node that missed a
 * broadcast still delivers the events at its next check (see StreamHub).
 */
export class StreamPublisher {
  readonly #bus: EventBus;
  readonly #log: Logger;

  constructor(bus: EventBus, log: Logger) {
    this.#bus = bus;
    this.#log = log;
  }

  /**
   * Broadcasts the events, waiting at most PUBLISH_WAIT_MS: with the broker down a write must
   * not wait for it. The events are in the stream log already, and every node checks its open
   * streams against the log every STREAM_HEARTBEAT_SECONDS, so a broadcast lost or late only
   * delays delivery.
   */
  async publish(events: readonly Delivery[]): Promise<void> {
    if (events.length === 0) return;
    const sent = this.#bus
      .broadcast({ type: STREAM_BROADCAST, data: { events } })
      .catch((err: unknown) => {
        this.#log.warn(
          { err, count: events.length },
          'stream broadcast failed; nodes catch up later',
        );
      });
    await Promise.race([sent, delay(PUBLISH_WAIT_MS, undefined, { ref: false })]);
  }
}

/** One event for some users' streams, from one batch of a source event's fan-out. */
export interface Announcement {
  eventId: string;
  userIds: string[];
  type: string;
  data: Record<string, unknown>;
}

/**
 * Appends announcements to users' streams and broadcasts them. Each is applied once per source
 * event and batch (its first user, as `stream:<id>` in processed_events), so a redelivered
 * event adds nothing twice. Any number of them share one transaction: callers that gather
 * several (the feed's fan-out, see coalesce) lock each user's counter once for all.
 */
export function streamAnnouncer(db: Kysely<DB>, publisher: StreamPublisher) {
  return async (announcements: readonly Announcement[]): Promise<void> => {
    const wanted = new Map<string, Announcement>();
    for (const a of announcements) {
      if (a.userIds.length > 0) wanted.set(`stream:${a.userIds[0]}\n${a.eventId}`, a);
    }
    if (wanted.size === 0) return;
    const keys = [...wanted.values()];
    const deliveries = await transaction(db, async (trx) => {
      const { rows } = await sql<{ consumer: string; event_id: string }>`
        insert into processed_events (consumer, event_id)
        select * from unnest(${keys.map((a) => `stream:${a.userIds[0]}`)}::text[],
          ${keys.map((a) => a.eventId)}::uuid[])
        on conflict do nothing
        returning consumer, event_id`.execute(trx);
      const fresh = rows.map((r) => wanted.get(`${r.consumer}\n${r.event_id}`)!);
      return new StreamLog(trx).append(
        fresh.flatMap((a) => a.userIds.map((userId) => ({ userId, type: a.type, data: a.data }))),
      );
    });
    await publisher.publish(deliveries);
  };
}
