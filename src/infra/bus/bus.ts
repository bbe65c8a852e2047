/** A domain event: ids only in `data`, a unique `id` for de-duplication. */
export interface DomainEvent {
  /** UUIDv7; consumers use it to recognise a redelivery. */
  id: string;
  /** e.g. `post.created`; the routing key on RabbitMQ. */
  type: string;
  data: Record<string, unknown>;
  /** ISO timestamp of the change. */
  occurred_at: string;
}

/** A message for every API node (real-time pushes). Not persisted: best effort by design. */
export interface BroadcastMessage {
  type: string;
  data: Record<string, unknown>;
}

export interface Subscription {
  /** Stops taking new messages and waits for the handlers in progress. */
  stop(): Promise<void>;
}

export interface ConsumeOptions {
  /** Deliveries before an event is dead-lettered (first try included). */
  maxAttempts: number;
  /** Wait before each retry; the last value repeats. */
  retryDelaysMs: readonly number[];
  /** Events handled at once by this consumer. */
  concurrency: number;
}

/** What a consumer does with one event; throwing means "retry later". */
export type EventHandler = (event: DomainEvent, attempt: number) => Promise<void>;

/**
 * The event bus port. Delivery is at-least-once: handlers must be idempotent.
 *  - `publish` resolves once the events are durably accepted (broker confirms on RabbitMQ; in
 *    process, once every consumer has handled them or dead-lettered them).
 *  - `consume` joins a named consumer group: each event of the given types reaches one member
 *    of the group; failures are retried with back-off, then dead-lettered, and one failing
 *    event never holds up the others.
 *  - `broadcast` reaches every node's `onBroadcast` handlers.
 */
export interface EventBus {
  publish(events: readonly DomainEvent[]): Promise<void>;
  consume(
    group: string,
    types: readonly string[],
    handler: EventHandler,
    opts?: Partial<ConsumeOptions>,
  ): Promise<Subscription>;
  broadcast(message: BroadcastMessage): Promise<void>;
  /**
   * `onResubscribed` is called each time the subscription is back after a lost connection:
   * broadcasts sent meanwhile never reached this node, so it should catch up from elsewhere.
   */
  onBroadcast(
    handler: (message: BroadcastMessage) => void,
    onResubscribed?: () => void,
  ): Promise<Subscription>;
  /** Events a group gave up on, oldest first (inspection, tests, replay tooling). */
  deadLetters(group: string, limit?: number): Promise<DomainEvent[]>;
  /**
   * Gives up to `limit` dead-lettered events of a group a fresh round of attempts (after the
   * outage that killed them is over); returns how many went back. Handlers are idempotent, so
   * replaying is always safe.
   */
  replayDeadLetters(group: string, limit?: number): Promise<number>;
  /** Whether the bus can publish right now (a broker connection is open); for metrics and /readyz. */
  connected(): boolean;
  close(): Promise<void>;
}

export const DEFAULT_CONSUME_OPTIONS: ConsumeOptions = {
  maxAttempts: 5,
  retryDelaysMs: [1_000, 5_000, 30_000],
  concurrency: 4,
};
