import type { Kysely } from 'kysely';
import type { EventBus } from '../../infra/bus/bus.ts';
import type { DB } from '../../infra/db/schema.ts';
import type { Logger } from '../../logger.ts';
import { applyOnce } from '../../events/apply-once.ts';
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

/**
 * Appends the same event to many users' streams (a fan-out batch) and announces it. Applied once
 * per source event and batch (its first user), so a redelivered event adds nothing twice.
 */
export function streamAnnouncer(db: Kysely<DB>, publisher: StreamPublisher) {
  return async (
    eventId: string,
    userIds: string[],
    type: string,
    data: Record<string, unknown>,
  ): Promise<void> => {
    if (userIds.length === 0) return;
    const deliveries: Delivery[] = [];
    await applyOnce(db, `stream:${userIds[0]}`, eventId, async (trx) => {
      deliveries.splice(
        0,
        deliveries.length,
        ...(await new StreamLog(trx).appendToMany(userIds, type, data)),
      );
    });
    await publisher.publish(deliveries);
  };
}
