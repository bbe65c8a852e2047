import type { EventBus } from '../../infra/bus/bus.ts';
import type { Logger } from '../../logger.ts';
import type { Delivery } from './stream-log.ts';

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

  async publish(events: readonly Delivery[]): Promise<void> {
    if (events.length === 0) return;
    try {
      await this.#bus.broadcast({ type: STREAM_BROADCAST, data: { events } });
    } catch (err) {
      this.#log.warn(
        { err, count: events.length },
        'stream broadcast failed; nodes catch up later',
      );
    }
  }
}
