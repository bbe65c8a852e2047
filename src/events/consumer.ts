import type { EventHandler } from '../infra/bus/bus.ts';
import type { EventType } from './event-map.ts';

/** A consumer group: one durable queue on RabbitMQ, shared by every worker that runs it. */
export interface Consumer {
  group: string;
  types: readonly EventType[];
  handle: EventHandler;
}
