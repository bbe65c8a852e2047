import {
  Connection,
  type AsyncMessage,
  type SyncMessage,
  type Consumer,
  type Envelope,
  type Publisher,
} from 'rabbitmq-client';
import type { Logger } from '../../logger.ts';
import {
  DEFAULT_CONSUME_OPTIONS,
  type BroadcastMessage,
  type ConsumeOptions,
  type DomainEvent,
  type EventBus,
  type EventHandler,
  type Subscription,
} from './bus.ts';

export interface RabbitMqBusOptions {
  /** Prefix of every exchange and queue name, so deployments and tests can share a broker. */
  prefix?: string;
  /** Where handler and connection failures are reported; a pino logger fits. */
  logger?: Pick<Logger, 'warn' | 'error'>;
  /** How long `publish` (and any other call) waits for a connection before rejecting. */
  connectTimeoutMs?: number;
  /** Reconnect back-off: each attempt waits a random time in [low, high], ms (see RECONNECT). */
  reconnect?: { lowMs: number; highMs: number };
  /** AMQP heartbeat, seconds: a silent broker is taken for dead after twice this. */
  heartbeatSeconds?: number;
}

/**
 * Reconnecting promptly: rabbitmq-client waits a random time between `retryLow` and
 * min(retryLow * 2^attempt, retryHigh) before each attempt (its defaults, 1 s and 30 s, meant up
 * to 30 s after a long outage). 50 ms steps capped at 300 ms: every process tries again at
 * least three times a second, so it is back within 0.3 s of the broker (plus the handshake),
 * jittered so a fleet does not reconnect in lockstep. The same back-off restarts consumers
 * whose channel was lost.
 */
export const RECONNECT = { lowMs: 50, highMs: 300 };
/** A silent (partitioned, frozen) broker is detected after 4 missed half-periods: 2 × 3 s. */
export const HEARTBEAT_SECONDS = 3;

/** The attempt number travels in this header; a first delivery has none and is attempt 1. */
export const ATTEMPT_HEADER = 'x-kith-attempt';

/**
 * Every name the bus declares under `prefix` (all durable unless said otherwise):
 *  - `<prefix>.events`: topic exchange, routing key = event type.
 *  - `<prefix>.<group>`: a group's queue, bound to the exchange once per event type.
 *  - `<prefix>.<group>.retry.<n>`: n-th retry delay (x-message-ttl = retryDelaysMs[n-1]); expired
 *    messages dead-letter through the default exchange back to `<prefix>.<group>`.
 *  - `<prefix>.<group>.dead`: events given up on, published through the default exchange.
 *  - `<prefix>.broadcast`: fanout exchange; each `onBroadcast` binds an exclusive, auto-delete,
 *    server-named queue to it.
 */
export function amqpTopology(prefix: string) {
  return {
    events: `${prefix}.events`,
    broadcast: `${prefix}.broadcast`,
    queue: (group: string) => `${prefix}.${group}`,
    retry: (group: string, n: number) => `${prefix}.${group}.retry.${n}`,
    dead: (group: string) => `${prefix}.${group}.dead`,
  };
}

/** Bodies are JSON; rabbitmq-client already parses them when content-type says so. */
function decode(body: unknown): unknown {
  if (Buffer.isBuffer(body)) body = body.toString('utf8');
  if (typeof body !== 'string') return body;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

const isEvent = (value: unknown): value is DomainEvent => {
  const event = value as Partial<DomainEvent> | null;
  return typeof event?.id === 'string' && typeof event.type === 'string';
};

/**
 * The event bus on RabbitMQ (see {@link amqpTopology} for the names).
 *
 * Delivery: a handler's message is acked only after the handler succeeded, or after its retry
 * or dead-letter copy was confirmed by the broker; a crash in between means redelivery (at
 * least once). A failed attempt is acked away from the group queue at once, so it never holds
 * up the events behind it. All members of a group must use the same retry settings: the retry
 * queues' TTLs are fixed at declaration, and a mismatch makes `consume` fail (PRECONDITION_FAILED).
 *
 * Outage: the connection reconnects by itself. `publish` waits up to `connectTimeoutMs` for a
 * connection and then rejects; it resolves only once the broker confirmed every event, and a
 * connection lost before a confirm rejects it. So a caller (the outbox relay) never marks an
 * event sent that the broker does not hold, and may send duplicates, which consumers absorb.
 */
export class RabbitMqBus implements EventBus {
  readonly #conn: Connection;
  readonly #names: ReturnType<typeof amqpTopology>;
  readonly #logger: RabbitMqBusOptions['logger'];
  readonly #publisher;
  readonly #subscriptions = new Set<Subscription>();

  constructor(url: string, options: RabbitMqBusOptions = {}) {
    const prefix = options.prefix ?? 'kith';
    this.#names = amqpTopology(prefix);
    this.#logger = options.logger;
    this.#conn = new Connection({
      url,
      connectionName: `${prefix}-bus`,
      acquireTimeout: options.connectTimeoutMs ?? 10_000,
      retryLow: (options.reconnect ?? RECONNECT).lowMs,
      retryHigh: (options.reconnect ?? RECONNECT).highMs,
      heartbeat: options.heartbeatSeconds ?? HEARTBEAT_SECONDS,
      // A connection attempt into a silent network gives up soon and is retried.
      connectionTimeout: 2_000,
    });
    this.#conn.on('error', (err) => this.#logger?.warn({ err }, 'RabbitMQ connection error'));
    this.#publisher = this.#conn.createPublisher({
      confirm: true,
      exchanges: [
        { exchange: this.#names.events, type: 'topic', durable: true },
        { exchange: this.#names.broadcast, type: 'fanout', durable: true },
      ],
    });
  }

  /** Whether the broker connection is open (the library's `ready`: established and unblocked). */
  connected(): boolean {
    return this.#conn.ready;
  }

  /** Calls `listener` each time the connection is (re-)established. */
  onConnected(listener: () => void): void {
    this.#conn.on('connection', listener);
  }

  async publish(events: readonly DomainEvent[]): Promise<void> {
    const exchange = this.#names.events;
    // An object body goes out as JSON with content-type application/json.
    const send = (event: DomainEvent) =>
      this.#publisher.send(
        { exchange, routingKey: event.type, durable: true, messageId: event.id, type: event.type },
        event,
      );
    await Promise.all(events.map(send));
  }

  async consume(
    group: string,
    types: readonly string[],
    handler: EventHandler,
    opts: Partial<ConsumeOptions> = {},
  ): Promise<Subscription> {
    const options = { ...DEFAULT_CONSUME_OPTIONS, ...opts };
    if (!(options.concurrency >= 1) || !(options.maxAttempts >= 1)) {
      throw new Error('concurrency and maxAttempts must be at least 1');
    }
    const { queue, bindings, sideQueues, retries } = this.#groupTopology(group, types, options);
    const exchange = { exchange: this.#names.events, type: 'topic', durable: true };

    // Declared before `consume` resolves, so every event published from then on is kept.
    await this.#conn.exchangeDeclare(exchange);
    await this.#conn.queueDeclare({ queue, durable: true });
    for (const params of bindings) await this.#conn.queueBind(params);
    for (const params of sideQueues) await this.#conn.queueDeclare(params);

    // Its own confirming publisher, which re-declares the side queues after a reconnect.
    const resend = this.#conn.createPublisher({ confirm: true, queues: sideQueues });
    const onMessage = async (msg: AsyncMessage): Promise<void> => {
      const event = decode(msg.body);
      const attempt = Math.max(1, Number(msg.headers?.[ATTEMPT_HEADER]) || 1);
      if (!isEvent(event)) {
        return this.#moveOn(resend, msg, group, 'dead', attempt, new Error('not a domain event'));
      }
      try {
        await handler(event, attempt);
        return; // ack
      } catch (err) {
        const retry = attempt < options.maxAttempts ? Math.min(attempt, retries) : 'dead';
        // If this throws (broker gone), the message is nacked and requeued: retried, never lost.
        await this.#moveOn(resend, msg, group, retry, attempt, err);
      }
    };

    const consumer = this.#conn.createConsumer(
      {
        queue,
        queueOptions: { durable: true },
        qos: { prefetchCount: options.concurrency },
        concurrency: options.concurrency,
        requeue: true,
        exchanges: [exchange],
        queueBindings: bindings,
      },
      onMessage,
    );
    try {
      await this.#ready(consumer, `consumer ${queue}`);
    } catch (err) {
      await resend.close();
      throw err;
    }
    return this.#track(async () => {
      await consumer.close(); // waits for running handlers, whose acks follow their resends
      await resend.close();
    });
  }

  async broadcast(message: BroadcastMessage): Promise<void> {
    await this.#publisher.send({ exchange: this.#names.broadcast }, message);
  }

  async onBroadcast(
    handler: (message: BroadcastMessage) => void,
    onResubscribed?: () => void,
  ): Promise<Subscription> {
    const exchange = this.#names.broadcast;
    const consumer = this.#conn.createConsumer(
      {
        // Blank names: the server names the queue, and the binding uses the last declared queue.
        queue: '',
        queueOptions: { exclusive: true, autoDelete: true, durable: false },
        noAck: true, // best effort by design
        exchanges: [{ exchange, type: 'fanout', durable: true }],
        queueBindings: [{ exchange, queue: '' }],
      },
      (msg) => {
        try {
          handler(decode(msg.body) as BroadcastMessage);
        } catch (err) {
          this.#logger?.warn({ err }, 'broadcast handler failed');
        }
      },
    );
    await this.#ready(consumer, 'broadcast consumer');
    // Every later 'ready' is a new server-named queue after a reconnection.
    if (onResubscribed) consumer.on('ready', onResubscribed);
    return this.#track(() => consumer.close());
  }

  /**
   * Reads up to `limit` dead letters, oldest first, without taking them: they are fetched
   * unacknowledged on a private channel, then all nacked with requeue, which puts them back in
   * their original positions. Two readers at once may each see part of the queue.
   */
  async deadLetters(group: string, limit = 100): Promise<DomainEvent[]> {
    const ch = await this.#conn.acquire();
    const events: DomainEvent[] = [];
    try {
      let lastTag: number | undefined;
      while (events.length < limit) {
        const msg = await ch.basicGet({ queue: this.#names.dead(group), noAck: false });
        if (!msg) break;
        lastTag = msg.deliveryTag;
        const event = decode(msg.body);
        if (isEvent(event)) events.push(event); // anything else was never an event: skipped
      }
      if (lastTag !== undefined)
        ch.basicNack({ deliveryTag: lastTag, multiple: true, requeue: true });
    } catch (err) {
      // A group that never consumed here has no dead queue, hence no dead letters.
      if ((err as { code?: string }).code !== 'NOT_FOUND') throw err;
    } finally {
      await ch.close(); // also requeues anything still unacknowledged
    }
    return events;
  }

  async replayDeadLetters(group: string, limit = 1_000): Promise<number> {
    const ch = await this.#conn.acquire();
    const back = this.#conn.createPublisher({ confirm: true });
    try {
      // Take every message first (unacknowledged, so held by this channel), then send them
      // back: an event that fails again and returns to the dead queue meanwhile is not taken
      // a second time.
      const taken: SyncMessage[] = [];
      while (taken.length < limit) {
        const msg = await ch.basicGet({ queue: this.#names.dead(group), noAck: false });
        if (!msg) break;
        taken.push(msg);
      }
      for (const msg of taken) {
        // Straight to the group's queue (default exchange), as a first attempt; acked from the
        // dead queue only once the broker confirmed the copy, so nothing is lost either way.
        await back.send(
          {
            routingKey: this.#names.queue(group),
            durable: true,
            messageId: msg.messageId,
            type: msg.type,
            contentType: msg.contentType,
          },
          msg.body,
        );
        ch.basicAck({ deliveryTag: msg.deliveryTag });
      }
      return taken.length;
    } catch (err) {
      if ((err as { code?: string }).code !== 'NOT_FOUND') throw err;
      return 0;
    } finally {
      await back.close();
      await ch.close(); // anything taken but not sent back is requeued, still dead
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((s) => s.stop()));
    await this.#publisher.close();
    await this.#conn.close();
  }

  /** Names and declarations of one group's queues; side queues are the retry and dead ones. */
  #groupTopology(group: string, types: readonly string[], options: ConsumeOptions) {
    const names = this.#names;
    const queue = names.queue(group);
    const delays = options.retryDelaysMs.length > 0 ? options.retryDelaysMs : [0];
    const retries = Math.min(delays.length, options.maxAttempts - 1);
    const retryQueues = Array.from({ length: retries }, (_, i) => ({
      queue: names.retry(group, i + 1),
      durable: true,
      arguments: {
        'x-message-ttl': delays[i],
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': queue,
      },
    }));
    return {
      queue,
      retries,
      bindings: types.map((routingKey) => ({ exchange: names.events, queue, routingKey })),
      sideQueues: [...retryQueues, { queue: names.dead(group), durable: true }],
    };
  }

  /** Sends a failed message on to retry queue `retry` (or the dead queue), confirmed. */
  async #moveOn(
    resend: Publisher,
    msg: AsyncMessage,
    group: string,
    retry: number | 'dead',
    attempt: number,
    err: unknown,
  ): Promise<void> {
    const context = { err, group, eventId: msg.messageId, attempt };
    if (retry === 'dead')
      this.#logger?.error(context, 'event failed for the last time; dead-lettered');
    else this.#logger?.warn(context, 'event handler failed; will retry');
    const reason = err instanceof Error ? err.message : String(err);
    const envelope: Envelope = {
      routingKey: retry === 'dead' ? this.#names.dead(group) : this.#names.retry(group, retry),
      durable: true,
      messageId: msg.messageId,
      type: msg.type,
      contentType: msg.contentType,
      headers: {
        [ATTEMPT_HEADER]: retry === 'dead' ? attempt : attempt + 1,
        'x-kith-error': reason.slice(0, 500),
      },
    };
    await resend.send(envelope, msg.body);
  }

  #track(stop: () => Promise<void>): Subscription {
    let stopping: Promise<void> | undefined;
    const subscription: Subscription = {
      stop: () => {
        this.#subscriptions.delete(subscription);
        return (stopping ??= stop());
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** Resolves once the consumer is consuming; a setup failure before that rejects (and stops it). */
  async #ready(consumer: Consumer, what: string): Promise<void> {
    consumer.on('error', (err) => this.#logger?.warn({ err }, `RabbitMQ ${what} error`));
    await new Promise<void>((resolve, reject) => {
      const onError = (err: unknown) => {
        consumer.off('ready', onReady);
        consumer.close().then(() => reject(err as Error), reject);
      };
      const onReady = () => {
        consumer.off('error', onError);
        resolve();
      };
      consumer.once('ready', onReady);
      consumer.once('error', onError);
    });
  }
}
