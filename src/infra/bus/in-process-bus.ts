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

/** Where handler failures are reported; a pino logger fits. */
export type BusLogger = Pick<Logger, 'warn' | 'error'>;

/** One event on its way through one group; settles the `publish` call that made it. */
interface Delivery {
  event: DomainEvent;
  attempt: number;
  done: () => void;
  fail: (err: Error) => void;
}

interface Member {
  types: ReadonlySet<string>;
  handler: EventHandler;
  opts: ConsumeOptions;
  running: Set<Promise<void>>;
}

interface Group {
  members: Member[];
  /** Deliveries waiting for a member with a free slot, oldest first. */
  backlog: Delivery[];
  dead: DomainEvent[];
  /** Round-robin start, so competing members share the work. */
  next: number;
}

/** Events travel as JSON, as they would through a broker: handlers get copies, never shared objects. */
const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/**
 * The event bus inside one process (tests, single-node deployments). Same semantics as the
 * RabbitMQ bus except durability: nothing survives the process, and an event whose group has
 * no member left waits in memory until a member joins or the bus closes.
 *
 * Each group is a queue that its members compete for; each member runs at most `concurrency`
 * handlers. A failed attempt frees its slot at once and the event comes back after its delay,
 * so a poison event never holds up the others. `publish` resolves when every group has handled
 * or dead-lettered every event of the call, which is what "accepted" means without a broker.
 */
export class InProcessBus implements EventBus {
  readonly #groups = new Map<string, Group>();
  readonly #broadcastHandlers = new Set<(message: BroadcastMessage) => void>();
  /** Deliveries waiting out a retry delay, so `close` can cancel them. */
  readonly #retries = new Map<NodeJS.Timeout, Delivery>();
  readonly #logger: BusLogger | undefined;

  /** Always: there is no broker to lose. */
  connected(): boolean {
    return true;
  }
  #closed = false;

  constructor(options: { logger?: BusLogger } = {}) {
    this.#logger = options.logger;
  }

  async publish(events: readonly DomainEvent[]): Promise<void> {
    if (this.#closed) throw new Error('event bus is closed');
    const deliveries: Promise<void>[] = [];
    const touched = new Set<Group>();
    for (const event of events) {
      for (const group of this.#groups.values()) {
        if (!group.members.some((m) => m.types.has(event.type))) continue;
        deliveries.push(
          new Promise<void>((done, fail) =>
            group.backlog.push({ event: copy(event), attempt: 1, done, fail }),
          ),
        );
        touched.add(group);
      }
    }
    for (const group of touched) this.#pump(group);
    await Promise.all(deliveries);
  }

  async consume(
    name: string,
    types: readonly string[],
    handler: EventHandler,
    opts: Partial<ConsumeOptions> = {},
  ): Promise<Subscription> {
    if (this.#closed) throw new Error('event bus is closed');
    const options = { ...DEFAULT_CONSUME_OPTIONS, ...opts };
    if (!(options.concurrency >= 1) || !(options.maxAttempts >= 1)) {
      throw new Error('concurrency and maxAttempts must be at least 1');
    }
    let group = this.#groups.get(name);
    if (!group) {
      group = { members: [], backlog: [], dead: [], next: 0 };
      this.#groups.set(name, group);
    }
    const member: Member = { types: new Set(types), handler, opts: options, running: new Set() };
    group.members.push(member);
    this.#pump(group);
    const joined = group;
    return {
      stop: async () => {
        joined.members = joined.members.filter((m) => m !== member);
        // What this member would have taken next goes to the others.
        this.#pump(joined);
        await Promise.all(member.running);
      },
    };
  }

  async broadcast(message: BroadcastMessage): Promise<void> {
    if (this.#closed) throw new Error('event bus is closed');
    for (const handler of [...this.#broadcastHandlers]) {
      try {
        handler(copy(message));
      } catch (err) {
        this.#logger?.warn({ err, type: message.type }, 'broadcast handler failed');
      }
    }
  }

  async onBroadcast(handler: (message: BroadcastMessage) => void): Promise<Subscription> {
    // A wrapper, so the same function subscribed twice is two subscriptions.
    const wrapped = (message: BroadcastMessage) => handler(message);
    this.#broadcastHandlers.add(wrapped);
    return { stop: async () => void this.#broadcastHandlers.delete(wrapped) };
  }

  async replayDeadLetters(name: string, limit = 1_000): Promise<number> {
    const group = this.#groups.get(name);
    if (!group) return 0;
    const events = group.dead.splice(0, limit);
    for (const event of events) {
      // Nobody awaits a replay: a failure ends in the dead letters again.
      group.backlog.push({ event, attempt: 1, done: () => {}, fail: () => {} });
    }
    this.#pump(group);
    return events.length;
  }

  async deadLetters(group: string, limit = 100): Promise<DomainEvent[]> {
    return copy((this.#groups.get(group)?.dead ?? []).slice(0, limit));
  }

  /** Waits for running handlers; events not yet handled make their `publish` reject. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#broadcastHandlers.clear();
    const running: Promise<void>[] = [];
    for (const group of this.#groups.values()) {
      for (const member of group.members) running.push(...member.running);
      group.members = [];
    }
    const closed = new Error('event bus closed before the event was handled');
    for (const [timer, delivery] of this.#retries) {
      clearTimeout(timer);
      delivery.fail(closed);
    }
    this.#retries.clear();
    for (const group of this.#groups.values()) {
      for (const delivery of group.backlog.splice(0)) delivery.fail(closed);
    }
    await Promise.all(running);
  }

  /** Hands waiting deliveries to members with a free slot, round robin. */
  #pump(group: Group): void {
    for (let i = 0; i < group.backlog.length;) {
      const delivery = group.backlog[i]!;
      const member = this.#pick(group, delivery.event.type);
      if (!member) {
        i++;
        continue;
      }
      group.backlog.splice(i, 1);
      this.#run(group, member, delivery);
    }
  }

  #pick(group: Group, type: string): Member | undefined {
    const n = group.members.length;
    for (let k = 0; k < n; k++) {
      const index = (group.next + k) % n;
      const member = group.members[index]!;
      if (member.types.has(type) && member.running.size < member.opts.concurrency) {
        group.next = index + 1;
        return member;
      }
    }
    return undefined;
  }

  #run(group: Group, member: Member, delivery: Delivery): void {
    const run = (async () => {
      try {
        await member.handler(copy(delivery.event), delivery.attempt);
        delivery.done();
      } catch (err) {
        this.#failed(group, member, delivery, err);
      }
    })();
    member.running.add(run);
    void run.then(() => {
      member.running.delete(run);
      this.#pump(group);
    });
  }

  #failed(group: Group, member: Member, delivery: Delivery, err: unknown): void {
    const { event, attempt } = delivery;
    const context = { err, eventId: event.id, type: event.type, attempt };
    if (this.#closed) {
      delivery.fail(new Error('event bus closed before the event was handled', { cause: err }));
      return;
    }
    if (attempt >= member.opts.maxAttempts) {
      group.dead.push(event);
      this.#logger?.error(context, 'event handler failed for the last time; dead-lettered');
      delivery.done();
      return;
    }
    const delays = member.opts.retryDelaysMs;
    const delay = delays[Math.min(attempt - 1, delays.length - 1)] ?? 0;
    this.#logger?.warn({ ...context, delay }, 'event handler failed; will retry');
    const retry = { ...delivery, attempt: attempt + 1 };
    const timer = setTimeout(() => {
      this.#retries.delete(timer);
      group.backlog.push(retry);
      this.#pump(group);
    }, delay);
    this.#retries.set(timer, retry);
  }
}
