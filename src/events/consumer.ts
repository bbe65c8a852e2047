import type { DomainEvent, EventHandler } from '../infra/bus/bus.ts';
import type { EventMap, EventType } from './event-map.ts';

/** A consumer group: one durable queue on RabbitMQ, shared by every worker that runs it. */
export interface Consumer {
  group: string;
  types: readonly EventType[];
  handle: EventHandler;
  /** Events handled at once per process, when not the bus's default. */
  concurrency?: number;
}

/** Handles one event type: `data` is typed from the event map. */
export type Handler<K extends EventType> = (
  data: EventMap[K],
  event: DomainEvent,
  attempt: number,
) => Promise<void>;

/** A consumer's handlers by event type; the group subscribes to exactly these types. */
export type Handlers = { readonly [K in EventType]?: Handler<K> };

/**
 * Defines a consumer group as a map from event type to handler. The types it subscribes to are
 * the map's keys, so they are listed once, and each handler gets its own payload type.
 */
export function defineConsumer(
  group: string,
  handlers: Handlers,
  options: { concurrency?: number } = {},
): Consumer {
  const types = Object.keys(handlers) as EventType[];
  return {
    group,
    types,
    ...(options.concurrency !== undefined && { concurrency: options.concurrency }),
    handle: async (event, attempt) => {
      const handler = handlers[event.type as EventType] as Handler<EventType> | undefined;
      // The bus routes only `types` here; anything else (an older binding) is not ours.
      if (handler) await handler(event.data as EventMap[EventType], event, attempt);
    },
  };
}
