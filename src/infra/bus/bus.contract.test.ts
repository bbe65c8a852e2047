import assert from 'node:assert/strict';
import { after, describe, it, type TestContext } from 'node:test';
import { Connection } from 'rabbitmq-client';
import { amqpUrl, deleteAmqpTopology, testPrefix } from '../../../test/support/services.ts';
import { newId } from '../../ids.ts';
import type { BroadcastMessage, DomainEvent, EventBus, EventHandler } from './bus.ts';
import { InProcessBus } from './in-process-bus.ts';
import { amqpTopology, RabbitMqBus } from './rabbitmq-bus.ts';

/** `nodes(n)`: n API nodes sharing the bus. In one process they are one instance. */
interface Implementation {
  name: string;
  nodes(n: number): EventBus[];
}

const implementations: Implementation[] = [
  { name: 'in-process', nodes: (n) => Array<EventBus>(n).fill(new InProcessBus()) },
];
const url = amqpUrl();
const groups = new Set<string>();
if (url) {
  implementations.push({
    name: 'rabbitmq',
    nodes: (n) => Array.from({ length: n }, () => new RabbitMqBus(url, { prefix: testPrefix })),
  });
  // Everything the file declared goes away with it (server-named broadcast queues auto-delete).
  after(() => deleteAmqpTopology(url, testPrefix, [...groups]));
}

let seq = 0;
const unique = (name: string) => `${name}${++seq}`;
const newGroup = () => {
  const group = unique('group');
  groups.add(group);
  return group;
};
const newEvent = (type: string, data: Record<string, unknown> = {}): DomainEvent => ({
  id: newId(),
  type,
  data,
  occurred_at: new Date().toISOString(),
});
const ids = (events: readonly DomainEvent[]) => events.map((e) => e.id).sort();
const byId = (a: DomainEvent, b: DomainEvent) => (a.id < b.id ? -1 : 1);

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Bounded wait: rejects when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Bounded wait for state the port exposes only by asking (dead letters on a broker). */
async function until<T>(probe: () => Promise<T | undefined>, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

for (const impl of implementations) {
  describe(`EventBus contract: ${impl.name}`, () => {
    const open = (t: TestContext, n = 1): EventBus[] => {
      const nodes = impl.nodes(n);
      t.after(() => Promise.all([...new Set(nodes)].map((bus) => bus.close())));
      return nodes;
    };

    it('delivers each event to one member of every group subscribed to its type', async (t) => {
      const [a, b] = open(t, 2) as [EventBus, EventBus];
      const type = unique('post.created.');
      const [shared, solo] = [newGroup(), newGroup()];
      const events = Array.from({ length: 6 }, () => newEvent(type));
      const seen = { a: [] as DomainEvent[], b: [] as DomainEvent[], solo: [] as DomainEvent[] };
      const all = deferred();
      let count = 0;
      const record = (list: DomainEvent[]) => async (event: DomainEvent) => {
        list.push(event);
        if (++count === events.length * 2) all.resolve();
      };
      await a.consume(shared, [type], record(seen.a));
      await b.consume(shared, [type], record(seen.b));
      await a.consume(solo, [type], record(seen.solo));
      await a.publish(events);
      await within(all.promise);
      assert.deepEqual(ids([...seen.a, ...seen.b]), ids(events), 'each once in the shared group');
      assert.ok(seen.a.length > 0 && seen.b.length > 0, 'both members took a share');
      assert.deepEqual(seen.solo.sort(byId), [...events].sort(byId), 'whole events, each once');
    });

    it('does not deliver types the group did not subscribe to', async (t) => {
      const [bus] = open(t) as [EventBus];
      const [type, other] = [unique('wanted.'), unique('unwanted.')];
      const got: string[] = [];
      const done = deferred();
      const handler: EventHandler = async (event) => {
        got.push(event.type);
        if (event.type === type) done.resolve();
      };
      await bus.consume(newGroup(), [type], handler, { concurrency: 1 });
      // One queue, one at a time: had `other` been routed, it would have arrived first.
      await bus.publish([newEvent(other), newEvent(type)]);
      await within(done.promise);
      assert.deepEqual(got, [type]);
    });

    it('retries a failing handler, then handles the event once', async (t) => {
      const [bus] = open(t) as [EventBus];
      const [type, group] = [unique('flaky.'), newGroup()];
      const event = newEvent(type, { n: 1 });
      const attempts: number[] = [];
      const handled: DomainEvent[] = [];
      const done = deferred();
      const opts = { maxAttempts: 5, retryDelaysMs: [20, 40], concurrency: 1 };
      const handler: EventHandler = async (received, attempt) => {
        attempts.push(attempt);
        if (attempt < 3) throw new Error(`attempt ${attempt} fails`);
        handled.push(received);
        done.resolve();
      };
      await bus.consume(group, [type], handler, opts);
      await bus.publish([event]);
      await within(done.promise);
      assert.deepEqual(attempts, [1, 2, 3]);
      assert.deepEqual(handled, [event]);
      assert.deepEqual(await bus.deadLetters(group), []);
    });

    it('replays dead letters as fresh first attempts, once the cause is gone', async (t) => {
      const [bus] = open(t) as [EventBus];
      const [type, group] = [unique('replay.'), newGroup()];
      const events = [newEvent(type, { n: 1 }), newEvent(type, { n: 2 })];
      let healthy = false;
      const handled: { id: string; attempt: number }[] = [];
      const done = deferred();
      const handler: EventHandler = async (event, attempt) => {
        if (!healthy) throw new Error('the outage');
        handled.push({ id: event.id, attempt });
        if (handled.length === events.length) done.resolve();
      };
      await bus.consume(group, [type], handler, { maxAttempts: 1, concurrency: 1 });
      await bus.publish(events);
      await until(async () => ((await bus.deadLetters(group)).length === 2 ? true : undefined));
      healthy = true;
      assert.equal(await bus.replayDeadLetters(group), 2);
      await within(done.promise);
      assert.deepEqual(
        handled.map((h) => [h.id, h.attempt]).sort(),
        events.map((e) => [e.id, 1]).sort(),
      );
      assert.deepEqual(await bus.deadLetters(group), [], 'nothing left dead');
      assert.equal(await bus.replayDeadLetters(group), 0);
      assert.equal(await bus.replayDeadLetters(newGroup()), 0, 'an unknown group has none');
    });

    it('replays each dead letter once per call, even when it fails again at once', async (t) => {
      const [bus] = open(t) as [EventBus];
      const [type, group] = [unique('still-poison.'), newGroup()];
      const events = [newEvent(type), newEvent(type), newEvent(type)];
      let attempts = 0;
      const handler: EventHandler = async () => {
        attempts += 1;
        throw new Error('still broken');
      };
      await bus.consume(group, [type], handler, { maxAttempts: 1, concurrency: 3 });
      await bus.publish(events);
      await until(async () => ((await bus.deadLetters(group)).length === 3 ? true : undefined));
      assert.equal(await bus.replayDeadLetters(group), 3);
      await until(async () => (attempts === 6 ? true : undefined));
      await until(async () => ((await bus.deadLetters(group)).length === 3 ? true : undefined));
      assert.equal(attempts, 6, 'each replayed event tried once more, not again and again');
    });

    it('dead-letters a poison event without holding up later ones', async (t) => {
      const [bus] = open(t) as [EventBus];
      const [type, group] = [unique('poison.'), newGroup()];
      const poison = newEvent(type, { poison: true });
      const later = [newEvent(type), newEvent(type)];
      const log: string[] = [];
      const firstFailure = deferred();
      const laterDone = deferred();
      // One slot: if a failing event kept it (or blocked the queue), the last attempt's wait
      // for the later events would time out.
      const opts = { maxAttempts: 3, retryDelaysMs: [20, 40], concurrency: 1 };
      const handler: EventHandler = async (event, attempt) => {
        if (event.data.poison !== true) {
          log.push('later');
          if (log.filter((l) => l === 'later').length === later.length) laterDone.resolve();
          return;
        }
        log.push(`poison ${attempt}`);
        if (attempt === 1) firstFailure.resolve();
        if (attempt === 3) await within(laterDone.promise);
        throw new Error('poison');
      };
      await bus.consume(group, [type], handler, opts);
      const poisonPublished = bus.publish([poison]);
      await within(firstFailure.promise);
      await within(bus.publish(later));
      await within(laterDone.promise);
      const dead = await until(async () => {
        const letters = await bus.deadLetters(group);
        return letters.length > 0 ? letters : undefined;
      });
      await within(poisonPublished);
      assert.deepEqual(dead, [poison]);
      assert.deepEqual(await bus.deadLetters(group), [poison], 'reading dead letters keeps them');
      assert.deepEqual(await bus.deadLetters(group, 0), []);
      assert.deepEqual(
        log.filter((l) => l.startsWith('poison')),
        ['poison 1', 'poison 2', 'poison 3'],
      );
      assert.ok(log.lastIndexOf('later') < log.indexOf('poison 3'), log.join(', '));
    });

    it('resolves publish only once the events are accepted', async (t) => {
      const [bus] = open(t) as [EventBus];
      const [type, group] = [unique('accepted.'), newGroup()];
      const events = [newEvent(type), newEvent(type)];
      if (impl.name === 'in-process') {
        // Without a broker, "accepted" means handled.
        const handled: DomainEvent[] = [];
        await bus.consume(group, [type], async (event) => {
          await turn();
          handled.push(event);
        });
        await bus.publish(events);
        assert.deepEqual(ids(handled), ids(events));
        return;
      }
      // On RabbitMQ, confirmed means in the group's queue, even with nobody consuming it.
      await (await bus.consume(group, [type], async () => {})).stop();
      await bus.publish(events);
      const admin = new Connection(url);
      t.after(() => admin.close());
      const { messageCount } = await admin.queueDeclare({
        queue: amqpTopology(testPrefix).queue(group),
        passive: true,
      });
      assert.equal(messageCount, 2);
      // And an unreachable broker is a rejection, never a silent success.
      const down = new RabbitMqBus('amqp://guest:guest@127.0.0.1:1', { connectTimeoutMs: 200 });
      await assert.rejects(within(down.publish([newEvent(type)])));
      await down.close();
    });

    it('runs at most `concurrency` handlers at once per member', async (t) => {
      const [bus] = open(t) as [EventBus];
      const [type, group] = [unique('busy.'), newGroup()];
      const events = Array.from({ length: 5 }, () => newEvent(type));
      const gate = deferred();
      const full = deferred();
      const all = deferred();
      let running = 0;
      let peak = 0;
      let done = 0;
      const handler: EventHandler = async () => {
        peak = Math.max(peak, ++running);
        if (running === 2) full.resolve();
        await gate.promise;
        running--;
        if (++done === events.length) all.resolve();
      };
      await bus.consume(group, [type], handler, { concurrency: 2 });
      const published = bus.publish(events);
      await within(full.promise);
      for (let i = 0; i < 5; i++) await turn();
      gate.resolve();
      await within(all.promise);
      await within(published);
      assert.equal(peak, 2);
    });

    it('reaches every onBroadcast subscriber on every node', async (t) => {
      const [a, b] = open(t, 2) as [EventBus, EventBus];
      const gotA = deferred<BroadcastMessage>();
      const gotB = deferred<BroadcastMessage>();
      await a.onBroadcast(() => {
        throw new Error('one broken handler must not matter');
      });
      await a.onBroadcast((message) => gotA.resolve(message));
      await b.onBroadcast((message) => gotB.resolve(message));
      const message = { type: unique('notification.'), data: { user_id: newId() } };
      await b.broadcast(message);
      assert.deepEqual(await within(gotA.promise), message);
      assert.deepEqual(await within(gotB.promise), message);
    });

    it('stop() waits for running handlers and ends delivery to that member', async (t) => {
      const [a, b] = open(t, 2) as [EventBus, EventBus];
      const [type, group] = [unique('stop.'), newGroup()];
      const first = newEvent(type);
      const gotA: string[] = [];
      const started = deferred();
      const gate = deferred();
      let finished = false;
      const member = await a.consume(
        group,
        [type],
        async (event) => {
          gotA.push(event.id);
          started.resolve();
          await gate.promise;
          finished = true;
        },
        { concurrency: 1 },
      );
      const firstPublished = a.publish([first]);
      await within(started.promise);
      let stopped = false;
      const stopping = member.stop().then(() => (stopped = true));
      await turn();
      assert.equal(stopped, false, 'stop() waits for the running handler');
      gate.resolve();
      await within(stopping);
      assert.ok(finished);
      await within(firstPublished);

      const later = [newEvent(type), newEvent(type), newEvent(type)];
      const gotB: DomainEvent[] = [];
      const allB = deferred();
      await b.consume(group, [type], async (event) => {
        gotB.push(event);
        if (gotB.length === later.length) allB.resolve();
      });
      await a.publish(later);
      await within(allB.promise);
      assert.deepEqual(gotA, [first.id]);
      assert.deepEqual(ids(gotB), ids(later));
    });
  });
}
