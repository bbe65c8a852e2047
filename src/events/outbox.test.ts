import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import { createTestApp, type TestApp } from '../../test/support/harness.ts';
import { createAccount, type Account } from '../../test/support/factories.ts';
import { EVENT_TYPES } from './event-map.ts';
import type { DomainEvent, EventBus } from '../infra/bus/bus.ts';
import { openDatabase } from '../infra/db/database.ts';
import { transaction } from '../infra/db/transaction.ts';
import { newId } from '../ids.ts';
import { createLogger } from '../logger.ts';
import { startWorker } from '../app/roles/worker.ts';
import { applyOnce } from './apply-once.ts';
import { recordEvent } from './outbox.ts';
import { OutboxRelay, type RelayOptions } from './relay.ts';
import { waitFor } from '../../test/support/wait.ts';

type Ctx = TestApp['ctx'];
type Db = Ctx['database']['db'];
type Event = { type: string; data: unknown };
const API = '/api/v1';
const silent = createLogger('silent');
const options = (o: Partial<RelayOptions> = {}): RelayOptions => ({
  ...{ pollMs: 20, batchSize: 100, leaseSeconds: 30, retentionHours: 24 },
  ...o,
});

/** An HTTP call through `app.inject`, as `who`. */
const request = (app: TestApp['app'], m: string, url: string, who?: Account, payload?: object) =>
  app.inject({
    method: m as 'GET',
    url: `${API}${url}`,
    headers: who?.auth ?? {},
    ...(payload ? { payload } : {}),
  });

/** Runs the relay round by round until a round claims nothing; returns how many it claimed. */
async function relayAll(relay: OutboxRelay): Promise<number> {
  for (let total = 0; ;) {
    const claimed = await relay.tick();
    await relay.drain();
    if (claimed === 0) return total;
    total += claimed;
  }
}

/** Writes `n` events straight into the outbox (each in its own transaction); sorted ids. */
async function seed(db: Db, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++)
    ids.push(
      await recordEvent(db, 'user.registered', {
        user_id: newId(),
        verification_token_id: newId(),
      }),
    );
  return ids.sort();
}

/** An EventBus over `inner` whose publish rejects while `down`, and for the next `failures` calls. */
function flakyBus(inner: EventBus, failures = 0) {
  const state = { down: false, failures, rejected: 0 };
  const bus: EventBus = {
    publish: async (events) => {
      if (state.down || state.failures-- > 0) {
        state.rejected += 1;
        throw new Error('broker unavailable');
      }
      await inner.publish(events);
    },
    consume: (...args) => inner.consume(...args),
    broadcast: (message) => inner.broadcast(message),
    onBroadcast: (handler) => inner.onBroadcast(handler),
    deadLetters: (group, limit) => inner.deadLetters(group, limit),
    replayDeadLetters: (group, limit) => inner.replayDeadLetters(group, limit),
    connected: () => !state.down,
    close: () => inner.close(),
  };
  return { bus, state };
}

/** Subscribes a fresh group to every event type; `seen` collects what it receives. */
async function probe(t: TestContext, bus: EventBus, handler?: () => Promise<void>) {
  const seen: DomainEvent[] = [];
  const sub = await bus.consume(`probe-${newId()}`, EVENT_TYPES, async (event) => {
    await handler?.();
    seen.push(event);
  });
  t.after(() => sub.stop());
  return { seen, ids: () => seen.map((e) => e.id).sort() };
}

describe(
  'outbox: every change writes its event in the same transaction',
  { timeout: 30_000 },
  () => {
    let app: TestApp['app'];
    let db: Db;
    before(async () => {
      const t = await createTestApp();
      [app, db] = [t.app, t.ctx.database.db];
    });
    const ev = (type: string, data: Record<string, unknown>): Event => ({ type, data });
    const key = (e: Event) =>
      `${e.type} ${JSON.stringify(e.data, Object.keys(e.data as object).sort())}`;
    const sorted = (events: Event[]) => [...events].sort((a, b) => (key(a) < key(b) ? -1 : 1));

    /** Runs `action`; returns its result and the events it added to the outbox, in any order. */
    async function written<T>(action: () => Promise<T>) {
      const before = new Set(
        (await db.selectFrom('outbox').select('id').execute()).map((r) => r.id),
      );
      const result = await action();
      const rows = await db.selectFrom('outbox').select(['id', 'type', 'data']).execute();
      const events = rows
        .filter((r) => !before.has(r.id))
        .map(({ type, data }) => ({ type, data }));
      return { result, events: sorted(events) };
    }
    type Body = Record<string, string>;
    /** Sends `m url` as `who`, expects `status`, and expects it wrote exactly `expected(body)`. */
    async function step(
      [m, url, who, payload]: [string, string, Account?, object?],
      status: number,
      expected: Event[] | ((body: Body) => Event[]) = [],
    ) {
      const { result: res, events } = await written(() => request(app, m, url, who, payload));
      assert.equal(res.statusCode, status, res.body);
      const body = res.body ? res.json<Body>() : {};
      const want = typeof expected === 'function' ? expected(body) : expected;
      assert.deepEqual(events, sorted(want), `${m} ${url} → ${status}`);
      return body;
    }
    const edge =
      (type: string, [k1, k2]: [string, string]) =>
      (x: Account, y: Account) =>
        ev(type, { [k1]: x.id, [k2]: y.id });
    const follows = edge('follow.created', ['follower_id', 'followee_id']);
    const unfollows = edge('follow.removed', ['follower_id', 'followee_id']);

    it('writes exactly the expected events, and none for failures or repeats', async () => {
      const reg = await written(() => createAccount(app));
      const a = reg.result;
      const token = await db
        .selectFrom('email_tokens')
        .select('id')
        .where('user_id', '=', a.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(reg.events, [
        ev('user.registered', { user_id: a.id, verification_token_id: token.id }),
      ]);
      const [b, c] = [await createAccount(app), await createAccount(app)];
      await step(['POST', '/auth/register', undefined, { ...b, password: 'x' }], 400);
      await step(['POST', '/auth/register', undefined, { ...b, email: `x${b.email}` }], 409);

      const follow = (x: Account, y: Account): [string, string, Account] => [
        'POST',
        `/users/${y.username}/follow`,
        x,
      ];
      await step(follow(b, a), 200, [follows(b, a)]);
      await step(follow(b, a), 200); // idempotent
      await step(follow(b, b), 400); // yourself

      const ask: [string, string, Account] = ['POST', `/users/${a.username}/friend-request`, c];
      const request = (r: Body) => ({ request_id: r.id, sender_id: c.id, recipient_id: a.id });
      const sent = await step(ask, 201, (r) => [ev('friend_request.sent', request(r))]);
      await step(ask, 409);
      const accept = `/friend-requests/${sent.id}/accept`;
      await step(['POST', accept, c], 403); // the sender cannot accept
      const friends = [follows(a, c), follows(c, a), ev('friend_request.accepted', request(sent))];
      await step(['POST', accept, a], 200, friends);
      await step(['POST', accept, a], 409);

      await step(['POST', '/posts', a, { text: '   ' }], 400);
      const post = (r: Body) => ({ post_id: r.id, author_id: a.id });
      const created = await step(['POST', '/posts', a, { text: 'hi' }], 201, (r) => [
        ev('post.created', { ...post(r), mentions: false, tags: false }),
      ]);
      const url = `/posts/${created.id}`;
      await step(['PATCH', url, a, { text: 'edited' }], 200, [ev('post.edited', post(created))]);
      await step(['PATCH', url, a, { text: 'edited' }], 200); // no change
      await step(['PATCH', url, c, { text: 'not mine' }], 403);

      await step(['POST', `${url}/like`, b], 200, [
        ev('post.liked', { ...post(created), user_id: b.id }),
      ]);
      await step(['POST', `${url}/like`, b], 200); // idempotent
      await step(['POST', `/posts/${newId()}/like`, b], 404);
      const comment = (r: Body) => ({
        comment_id: r.id,
        post_id: created.id,
        author_id: b.id,
        post_author_id: a.id,
      });
      await step(['POST', `${url}/comments`, b, { text: 'nice' }], 201, (r) => [
        ev('comment.created', comment(r)),
      ]);
      await step(['POST', `${url}/comments`, b, { text: '' }], 400);

      const block: [string, string, Account] = ['POST', `/users/${c.username}/block`, a];
      const severed = [
        unfollows(a, c),
        unfollows(c, a),
        ev('friendship.removed', { user_id: a.id, friend_id: c.id }),
      ];
      await step(block, 200, [
        ev('block.created', { blocker_id: a.id, blocked_id: c.id }),
        ...severed,
      ]);
      await step(block, 200); // idempotent
      await step(follow(c, a), 403); // blocked

      await step(['DELETE', url, a], 204, [
        ev('post.deleted', { ...post(created), fan_out: true, visibility: 'public' }),
      ]);
      await step(['DELETE', url, a], 404);
    });

    it('an event recorded in a transaction that rolls back never exists', async () => {
      const data = { user_id: newId(), verification_token_id: newId() };
      const failed = await written(() =>
        transaction(db, async (trx) => {
          await recordEvent(trx, 'user.registered', data);
          throw new Error('the change failed after its event was written');
        }).catch((err: Error) => err.message),
      );
      assert.match(failed.result, /change failed/);
      assert.deepEqual(failed.events, []);
      const kept = await written(() =>
        transaction(db, (trx) => recordEvent(trx, 'user.registered', data)),
      );
      assert.deepEqual(kept.events, [ev('user.registered', data)]);
    });
  },
);

describe('outbox relay', { timeout: 30_000 }, () => {
  let ctx: Ctx;
  let db: Db;
  before(async () => {
    ({ ctx } = await createTestApp());
    db = ctx.database.db;
  });
  const backlog = async () => (await ctx.relay.backlog()).count;

  it('publishes each pending event once, marking it only after the bus accepted it', async (t) => {
    await db.deleteFrom('outbox').execute();
    const ids = await seed(db, 150); // more than one batch of 100
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const { seen, ids: seenIds } = await probe(t, ctx.bus, () => gate);
    assert.equal(await backlog(), 150);
    assert.equal(await ctx.relay.tick(), 100, 'one batch claimed');
    assert.equal(await ctx.relay.tick(), 50, 'the rest (this round also marks what was accepted)');
    assert.equal(await backlog(), 150, 'consumers still running: the bus accepted nothing yet');
    open();
    await ctx.relay.drain();
    assert.equal(await relayAll(ctx.relay), 0);
    assert.deepEqual(await ctx.relay.backlog(), { count: 0, oldestSeconds: 0 });

    assert.deepEqual(seenIds(), ids, 'every event delivered, none twice');
    const rows = await db.selectFrom('outbox').selectAll().orderBy('id').execute();
    for (const row of rows) {
      assert.ok(row.published_at, `${row.id} marked published`);
      assert.deepEqual([row.attempts, row.claimed_until], [1, null], `${row.id} claimed once`);
    }
    const first = rows[0]!;
    assert.deepEqual(
      seen.find((e) => e.id === first.id),
      {
        id: first.id,
        type: first.type,
        data: first.data,
        occurred_at: first.created_at.toISOString(),
      },
    );
    assert.equal(await relayAll(ctx.relay), 0, 'nothing left to claim');
    assert.equal(seen.length, 150, 'no redelivery');
    const metric = await ctx.metrics.registry.getSingleMetricAsString(
      'kith_outbox_published_total',
    );
    assert.match(metric, /^kith_outbox_published_total 150$/m);
  });

  it('keeps events while the bus is down and delivers each once after it recovers', async (t) => {
    await db.deleteFrom('outbox').execute();
    const { bus, state } = flakyBus(ctx.bus);
    const { seen, ids: seenIds } = await probe(t, ctx.bus);
    const relay = new OutboxRelay(db, bus, silent, options({ pollMs: 5 }));
    const ids = await seed(db, 4);
    state.down = true;
    assert.equal(await relay.tick(), 4);
    await relay.drain();
    assert.deepEqual([await backlog(), state.rejected, seen.length], [4, 4, 0]);
    for (const row of await db.selectFrom('outbox').selectAll().execute()) {
      assert.deepEqual([row.published_at, row.attempts], [null, 1]);
      assert.equal(row.last_error, 'broker unavailable');
    }
    // Whenever the relay retries (now, or after a back-off), the events go out once.
    state.down = false;
    relay.start();
    t.after(() => relay.stop());
    await waitFor(async () => (await backlog()) === 0, 'backlog drained after recovery');
    await relay.stop();
    assert.deepEqual(seenIds(), ids, 'each delivered exactly once');
    assert.deepEqual(relay.stats, { published: 4, failed: 4 });
  });

  it('the running relay retries publishes rejected N times, none delivered twice', async (t) => {
    await db.deleteFrom('outbox').execute();
    const { bus, state } = flakyBus(ctx.bus, 5);
    const { ids: seenIds } = await probe(t, ctx.bus);
    const relay = new OutboxRelay(db, bus, silent, options({ pollMs: 5 }));
    const ids = await seed(db, 12);
    relay.start();
    t.after(() => relay.stop());
    await waitFor(async () => (await backlog()) === 0, 'backlog drained');
    await relay.stop();
    assert.equal(state.rejected, 5);
    assert.deepEqual(seenIds(), ids);
    const claims = await db.selectFrom('outbox').select('attempts').execute();
    assert.equal(
      claims.reduce((sum, r) => sum + r.attempts, 0),
      12 + 5,
      'a claim per attempt',
    );
  });

  it('backs off between rounds while every publish fails', async (t) => {
    await db.deleteFrom('outbox').execute();
    const times: number[] = [];
    const { bus, state } = flakyBus(ctx.bus);
    state.down = true;
    const timed: EventBus = {
      ...bus,
      publish: (events) => {
        times.push(Date.now());
        return bus.publish(events);
      },
    };
    const pollMs = 50;
    const relay = new OutboxRelay(db, timed, silent, options({ pollMs }));
    await seed(db, 1);
    relay.start();
    t.after(() => relay.stop());
    await waitFor(() => times.length >= 6, 'six publish attempts', 20_000);
    await relay.stop();
    const gaps = times.slice(1).map((time, i) => time - times[i]!);
    // #backoff(): pollMs * 2^failures after each failure, so never less than pollMs.
    assert.ok(
      gaps.every((gap) => gap >= pollMs),
      `gaps between attempts (ms): ${gaps.join(', ')}`,
    );
  });

  it('two relays on one database share the work and never publish an event twice', async () => {
    await db.deleteFrom('outbox').execute();
    const ids = await seed(db, 300);
    // On Postgres the second relay gets its own pool, like a second worker process.
    const url = ctx.config.databaseUrl;
    const other = url ? await openDatabase({ databaseUrl: url, dataDir: '', poolSize: 4 }) : null;
    try {
      const published = new Map<string, number>();
      const perRelay = [0, 0];
      const inFlight = new Set<string>();
      let overlaps = 0;
      const recording = (n: number): EventBus => ({
        ...flakyBus(ctx.bus).bus,
        publish: async (events) => {
          for (const { id } of events) {
            if (inFlight.has(id) || published.has(id)) overlaps += 1;
            inFlight.add(id);
          }
          await new Promise((resolve) => setImmediate(resolve));
          for (const { id } of events) {
            inFlight.delete(id);
            published.set(id, (published.get(id) ?? 0) + 1);
            perRelay[n]! += 1;
          }
        },
      });
      const relays = [
        new OutboxRelay(db, recording(0), silent, options({ batchSize: 10 })),
        new OutboxRelay(other?.db ?? db, recording(1), silent, options({ batchSize: 10 })),
      ];
      await Promise.all(relays.map(relayAll));
      assert.equal(overlaps, 0, 'no event published while or after another relay published it');
      assert.deepEqual([...published.keys()].sort(), ids, 'every event published');
      assert.ok(
        [...published.values()].every((n) => n === 1),
        'each exactly once',
      );
      assert.ok(
        perRelay.every((n) => n > 0),
        `both took a share: ${perRelay.join(' / ')}`,
      );
      assert.equal(await backlog(), 0);
    } finally {
      await other?.close();
    }
  });

  it('a claim blocks other relays until its lease expires, then they take it over', async () => {
    await db.deleteFrom('outbox').execute();
    const ids = await seed(db, 3);
    const { bus } = flakyBus(ctx.bus);
    const crashed: EventBus = { ...bus, publish: () => new Promise<void>(() => {}) };
    assert.equal(await new OutboxRelay(db, crashed, silent, options()).tick(), 3);
    const published: string[] = [];
    const publish = async (events: readonly DomainEvent[]) =>
      void published.push(...events.map((e) => e.id));
    const second = new OutboxRelay(db, { ...bus, publish }, silent, options());
    assert.equal(await second.tick(), 0, 'claimed events are skipped while the lease holds');
    await db
      .updateTable('outbox')
      .set({ claimed_until: new Date(Date.now() - 1_000) })
      .execute();
    assert.equal(await relayAll(second), 3);
    assert.deepEqual(published.sort(), ids);
    assert.equal(await backlog(), 0);
  });

  it('a running relay renews its claims past the lease, and marks each event once confirmed', async (t) => {
    await db.deleteFrom('outbox').execute();
    const [id] = await seed(db, 1);
    const { bus } = flakyBus(ctx.bus);
    let confirm = () => {};
    const confirmed = new Promise<void>((resolve) => (confirm = resolve));
    const slow: EventBus = { ...bus, publish: () => confirmed };
    // A long poll: the mark must not wait for the next round.
    const relay = new OutboxRelay(db, slow, silent, options({ leaseSeconds: 0.4, pollMs: 60_000 }));
    relay.start();
    t.after(() => relay.stop());
    const claim = async () =>
      await db
        .selectFrom('outbox')
        .select(['claimed_until', 'published_at'])
        .executeTakeFirstOrThrow();
    await waitFor(async () => (await claim()).claimed_until !== null, 'claimed');
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // 2.5 leases
    const other = new OutboxRelay(db, bus, silent, options());
    assert.equal(await other.tick(), 0, 'still held: the live relay renewed its claim');
    const confirmedAt = Date.now();
    confirm();
    await waitFor(async () => (await claim()).published_at !== null, `${id} marked`, 2_000);
    assert.ok(Date.now() - confirmedAt < 1_000, 'marked on its confirm, not at the next round');
    assert.equal(relay.stats.published, 1);
  });
});

describe('applyOnce', { timeout: 30_000 }, () => {
  let db: Db;
  before(async () => {
    db = (await createTestApp()).ctx.database.db;
  });

  it('applies an event once per consumer; a redelivery returns false without the effect', async () => {
    const eventId = newId();
    let applied = 0;
    const effect = async () => void (applied += 1);
    assert.equal(await applyOnce(db, 'mailer', eventId, effect), true);
    assert.equal(await applyOnce(db, 'mailer', eventId, effect), false);
    assert.equal(applied, 1);
    assert.equal(await applyOnce(db, 'notifier', eventId, effect), true, 'another consumer');
    assert.equal(applied, 2);
    const marks = await db
      .selectFrom('processed_events')
      .select('consumer')
      .where('event_id', '=', eventId)
      .execute();
    assert.deepEqual(marks.map((m) => m.consumer).sort(), ['mailer', 'notifier']);
  });

  it('a failed effect rolls back with its mark, so the redelivery applies it', async () => {
    const [eventId, data] = [newId(), { user_id: newId(), verification_token_id: newId() }];
    const effect = (fail: boolean) => async (trx: Db) => {
      await recordEvent(trx, 'user.registered', data); // a database effect in the same transaction
      if (fail) throw new Error('fails after writing');
    };
    await assert.rejects(applyOnce(db, 'writer', eventId, effect(true)), /fails after writing/);
    const rows = async () =>
      (await db.selectFrom('outbox').select('data').execute()).filter(
        (r) => (r.data as typeof data).user_id === data.user_id,
      );
    assert.equal((await rows()).length, 0, 'the effect rolled back');
    assert.equal(await applyOnce(db, 'writer', eventId, effect(false)), true, 'not marked as done');
    assert.equal(await applyOnce(db, 'writer', eventId, effect(false)), false);
    assert.equal((await rows()).length, 1);
  });

  it('concurrent deliveries of one event apply it once', async () => {
    const eventId = newId();
    let applied = 0;
    const deliver = () => applyOnce(db, 'racer', eventId, async () => void (applied += 1));
    const results = await Promise.all([deliver(), deliver(), deliver(), deliver(), deliver()]);
    assert.deepEqual([results.filter(Boolean).length, applied], [1, 1]);
  });
});

describe('feed fan-out through the worker role', { timeout: 30_000 }, () => {
  it('pushes a new post into the existing timelines of followers, and removes it on delete', async (t) => {
    const { app, ctx } = await createTestApp({ env: { OUTBOX_POLL_MS: '10' } });
    const timeline = async (user: Account) =>
      ((await ctx.timelines.range(`home:${user.id}`, { limit: 100 })) ?? []).map((e) => e.id);
    const [author, ready, cold, stranger] = [
      await createAccount(app),
      await createAccount(app),
      await createAccount(app),
      await createAccount(app),
    ];
    for (const follower of [ready, cold]) {
      const res = await request(app, 'POST', `/users/${author.username}/follow`, follower);
      assert.equal(res.statusCode, 200, res.body);
    }
    for (const user of [author, ready, stranger])
      await ctx.timelines.replace(`home:${user.id}`, [], 800);
    const worker = await startWorker(ctx);
    t.after(() => worker.stop());
    const caughtUp = () => waitFor(async () => (await ctx.relay.backlog()).count === 0, 'relay');

    const res = await request(app, 'POST', '/posts', author, { text: 'fan me out' });
    assert.equal(res.statusCode, 201, res.body);
    const postId = res.json<{ id: string }>().id;
    await waitFor(async () => (await timeline(ready)).includes(postId), 'post in timeline');
    await caughtUp();
    assert.deepEqual(await timeline(ready), [postId]);
    assert.deepEqual(await timeline(author), [], 'own posts are merged at read time');
    assert.equal(await ctx.timelines.exists(`home:${cold.id}`), false, 'absent stays absent');
    assert.deepEqual(await timeline(stranger), [], 'non-followers get nothing');

    const del = await request(app, 'DELETE', `/posts/${postId}`, author);
    assert.equal(del.statusCode, 204, del.body);
    await waitFor(async () => (await timeline(ready)).length === 0, 'post removed from timeline');
    await caughtUp();
    assert.deepEqual(await timeline(author), []);
    assert.equal(await ctx.timelines.exists(`home:${cold.id}`), false);
    const counted = await ctx.metrics.registry.getSingleMetricAsString(
      'kith_consumer_events_total',
    );
    // Two follows, the post and its deletion.
    assert.match(counted, /kith_consumer_events_total\{group="feed",outcome="handled"\} 4$/m);
  });
});
