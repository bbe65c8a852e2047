import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import { createTestApp, type TestApp } from '../../../test/harness.ts';
import { createAccount, type Account } from '../../../test/factories.ts';
import { EVENT_TYPES } from '../../events.ts';
import type { DomainEvent, EventBus } from '../../infra/bus/bus.ts';
import { openDatabase } from '../../infra/db/database.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { newId } from '../../ids.ts';
import { createLogger } from '../../logger.ts';
import { startWorker } from '../../roles/worker.ts';
import { applyOnce } from './apply-once.ts';
import { recordEvent } from './outbox.ts';
import { OutboxRelay, type RelayOptions } from './relay.ts';

type Ctx = TestApp['ctx'];
type Db = Ctx['database']['db'];
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
const API = '/api/v1';
const silent = createLogger('silent');
const relayOptions = (o: Partial<RelayOptions> = {}): RelayOptions => ({
  pollMs: 20,
  batchSize: 100,
  leaseSeconds: 30,
  retentionHours: 24,
  ...o,
});

/** Polls `probe` every 25 ms until it returns a truthy value; throws after the deadline. */
async function waitFor<T>(probe: () => Promise<T> | T, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Runs the relay round by round until a round claims nothing; returns how many it claimed. */
async function relayAll(relay: OutboxRelay): Promise<number> {
  let total = 0;
  for (;;) {
    const claimed = await relay.tick();
    await relay.drain();
    if (claimed === 0) return total;
    total += claimed;
  }
}

/** Writes `n` events straight into the outbox (each in its own transaction). */
async function seed(db: Db, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++)
    ids.push(await recordEvent(db, 'user.registered', { user_id: newId() }));
  return ids.sort();
}

/** An EventBus over `inner` whose publish rejects while `down`, and for the next `failures` calls. */
function flakyBus(inner: EventBus, failures = 0) {
  const state = { down: false, failures, calls: 0, rejected: 0 };
  const bus: EventBus = {
    publish: async (events) => {
      state.calls += 1;
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
    close: () => inner.close(),
  };
  return { bus, state };
}

/** Subscribes a probe group to every event type; `seen` lists ids in arrival order. */
async function probe(t: TestContext, bus: EventBus, handler?: (e: DomainEvent) => Promise<void>) {
  const seen: string[] = [];
  const sub = await bus.consume(`probe-${newId()}`, EVENT_TYPES, async (event) => {
    await handler?.(event);
    seen.push(event.id);
  });
  t.after(() => sub.stop());
  return seen;
}

const unpublished = async (db: Db) =>
  (await db.selectFrom('outbox').select('id').where('published_at', 'is', null).execute()).length;

describe('outbox: every change writes its event in the same transaction', () => {
  let app: TestApp['app'];
  let db: Db;
  before(async () => {
    ({
      app,
      ctx: {
        database: { db },
      },
    } = await createTestApp());
  });
  const call = async (m: Method, url: string, who?: Account, payload?: object) =>
    app.inject({
      method: m,
      url: `${API}${url}`,
      headers: who?.auth ?? {},
      ...(payload ? { payload } : {}),
    });

  const sortKey = (e: { type: string; data: unknown }) => `${e.type} ${JSON.stringify(e.data)}`;
  /** Runs `action`; returns its HTTP status and the events it added, sorted by type then data. */
  async function written<T>(action: () => Promise<T>) {
    const before = new Set((await db.selectFrom('outbox').select('id').execute()).map((r) => r.id));
    const result = await action();
    const rows = await db.selectFrom('outbox').select(['id', 'type', 'data']).execute();
    const events = rows
      .filter((r) => !before.has(r.id))
      .map((r) => ({ type: r.type, data: r.data as Record<string, unknown> }))
      .sort((a, b) => (sortKey(a) < sortKey(b) ? -1 : 1));
    return { result, events };
  }
  const status = (expected: number) => (res: { statusCode: number; body: string }) => {
    assert.equal(res.statusCode, expected, res.body);
    return res;
  };
  async function expectNone(
    action: () => Promise<{ statusCode: number; body: string }>,
    code: number,
  ) {
    const { result, events } = await written(action);
    status(code)(result);
    assert.deepEqual(events, [], `no event for a ${code}`);
  }

  it('writes exactly the expected events, and none for failures or repeats', async () => {
    const reg = await written(() => createAccount(app));
    const a = reg.result;
    assert.deepEqual(reg.events, [{ type: 'user.registered', data: { user_id: a.id } }]);
    const b = await createAccount(app);
    const c = await createAccount(app);
    await expectNone(() => call('POST', '/auth/register', undefined, { ...b, password: 'x' }), 400);
    await expectNone(
      () => call('POST', '/auth/register', undefined, { ...b, email: `other_${b.email}` }),
      409,
    );

    const follow = await written(() => call('POST', `/users/${a.username}/follow`, b));
    status(200)(follow.result);
    assert.deepEqual(follow.events, [
      { type: 'follow.created', data: { follower_id: b.id, followee_id: a.id } },
    ]);
    await expectNone(() => call('POST', `/users/${a.username}/follow`, b), 200); // idempotent
    await expectNone(() => call('POST', `/users/${b.username}/follow`, b), 400); // self

    const sent = await written(() => call('POST', `/users/${a.username}/friend-request`, c));
    const requestId = status(201)(sent.result).json<{ id: string }>().id;
    const request = { request_id: requestId, sender_id: c.id, recipient_id: a.id };
    assert.deepEqual(sent.events, [{ type: 'friend_request.sent', data: request }]);
    await expectNone(() => call('POST', `/users/${a.username}/friend-request`, c), 409);
    await expectNone(() => call('POST', `/friend-requests/${requestId}/accept`, c), 403);

    const accepted = await written(() => call('POST', `/friend-requests/${requestId}/accept`, a));
    status(200)(accepted.result);
    assert.deepEqual(accepted.events, [
      { type: 'follow.created', data: { follower_id: a.id, followee_id: c.id } },
      { type: 'follow.created', data: { follower_id: c.id, followee_id: a.id } },
      { type: 'friend_request.accepted', data: request },
    ]);
    await expectNone(() => call('POST', `/friend-requests/${requestId}/accept`, a), 409);

    await expectNone(() => call('POST', '/posts', a, { text: '   ' }), 400);
    const created = await written(() => call('POST', '/posts', a, { text: 'hello outbox' }));
    const postId = status(201)(created.result).json<{ id: string }>().id;
    const post = { post_id: postId, author_id: a.id };
    assert.deepEqual(created.events, [{ type: 'post.created', data: post }]);

    const edited = await written(() => call('PATCH', `/posts/${postId}`, a, { text: 'edited' }));
    status(200)(edited.result);
    assert.deepEqual(edited.events, [{ type: 'post.edited', data: post }]);
    await expectNone(() => call('PATCH', `/posts/${postId}`, a, { text: 'edited' }), 200);
    await expectNone(() => call('PATCH', `/posts/${postId}`, c, { text: 'not mine' }), 403);

    const liked = await written(() => call('POST', `/posts/${postId}/like`, b));
    status(200)(liked.result);
    assert.deepEqual(liked.events, [{ type: 'post.liked', data: { ...post, user_id: b.id } }]);
    await expectNone(() => call('POST', `/posts/${postId}/like`, b), 200); // idempotent
    await expectNone(() => call('POST', `/posts/${newId()}/like`, b), 404);

    const commented = await written(() =>
      call('POST', `/posts/${postId}/comments`, b, { text: 'nice' }),
    );
    const commentId = status(201)(commented.result).json<{ id: string }>().id;
    assert.deepEqual(commented.events, [
      {
        type: 'comment.created',
        data: { comment_id: commentId, post_id: postId, author_id: b.id, post_author_id: a.id },
      },
    ]);
    await expectNone(() => call('POST', `/posts/${postId}/comments`, b, { text: '' }), 400);

    const blocked = await written(() => call('POST', `/users/${c.username}/block`, a));
    status(200)(blocked.result);
    assert.deepEqual(blocked.events, [
      { type: 'block.created', data: { blocker_id: a.id, blocked_id: c.id } },
      { type: 'follow.removed', data: { follower_id: a.id, followee_id: c.id } },
      { type: 'follow.removed', data: { follower_id: c.id, followee_id: a.id } },
      { type: 'friendship.removed', data: { user_id: a.id, friend_id: c.id } },
    ]);
    await expectNone(() => call('POST', `/users/${c.username}/block`, a), 200); // idempotent
    await expectNone(() => call('POST', `/users/${a.username}/follow`, c), 403); // blocked

    const deleted = await written(() => call('DELETE', `/posts/${postId}`, a));
    status(204)(deleted.result);
    assert.deepEqual(deleted.events, [{ type: 'post.deleted', data: post }]);
    await expectNone(() => call('DELETE', `/posts/${postId}`, a), 404);
  });

  it('an event recorded in a transaction that rolls back never exists', async () => {
    const userId = newId();
    const { events, result } = await written(() =>
      transaction(db, async (trx) => {
        await recordEvent(trx, 'user.registered', { user_id: userId });
        throw new Error('the change failed after its event was written');
      }).catch((err: Error) => err.message),
    );
    assert.match(result, /change failed/);
    assert.deepEqual(events, []);
    const kept = await written(() =>
      transaction(db, (trx) => recordEvent(trx, 'user.registered', { user_id: userId })),
    );
    assert.deepEqual(kept.events, [{ type: 'user.registered', data: { user_id: userId } }]);
  });
});

describe('outbox relay', () => {
  let ctx: Ctx;
  let db: Db;
  before(async () => {
    ({ ctx } = await createTestApp());
    db = ctx.database.db;
  });

  it('publishes each pending event once, marking it only after the bus accepted it', async (t) => {
    await db.deleteFrom('outbox').execute();
    const ids = await seed(db, 150); // more than one batch of 100
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const seen = await probe(t, ctx.bus, () => gate);
    assert.equal((await ctx.relay.backlog()).count, 150);

    assert.equal(await ctx.relay.tick(), 100, 'one batch claimed');
    // The consumers have not finished, so the in-process bus has not accepted anything yet.
    assert.equal((await ctx.relay.backlog()).count, 150);
    open();
    await ctx.relay.drain();
    assert.equal((await ctx.relay.backlog()).count, 50);
    assert.equal(await relayAll(ctx.relay), 50);
    assert.deepEqual(await ctx.relay.backlog(), { count: 0, oldestSeconds: 0 });

    assert.deepEqual([...seen].sort(), ids, 'every event delivered, none twice');
    const rows = await db.selectFrom('outbox').selectAll().orderBy('id').execute();
    for (const row of rows) {
      assert.ok(row.published_at, `${row.id} marked published`);
      assert.equal(row.attempts, 1, `${row.id} claimed once`);
      assert.equal(row.claimed_until, null);
    }
    assert.equal(await ctx.relay.tick(), 0, 'nothing left to claim');
    await ctx.relay.drain();
    assert.equal(seen.length, 150, 'no redelivery');
    const metrics = await ctx.metrics.registry.getSingleMetricAsString(
      'kith_outbox_published_total',
    );
    assert.match(metrics, /^kith_outbox_published_total 150$/m);
  });

  it('delivers events with their stored type, data and time', async (t) => {
    await db.deleteFrom('outbox').execute();
    const received: DomainEvent[] = [];
    const sub = await ctx.bus.consume('shape', ['post.liked'], async (e) => void received.push(e));
    t.after(() => sub.stop());
    const data = { post_id: newId(), author_id: newId(), user_id: newId() };
    const id = await recordEvent(db, 'post.liked', data);
    await relayAll(ctx.relay);
    const row = await db.selectFrom('outbox').selectAll().executeTakeFirstOrThrow();
    assert.deepEqual(received, [
      { id, type: 'post.liked', data, occurred_at: row.created_at.toISOString() },
    ]);
  });

  it('keeps events while the bus is down and delivers each once after it recovers', async (t) => {
    await db.deleteFrom('outbox').execute();
    const { bus, state } = flakyBus(ctx.bus);
    const seen = await probe(t, ctx.bus);
    const relay = new OutboxRelay(db, bus, silent, relayOptions());
    const ids = await seed(db, 8);

    state.down = true;
    for (let round = 0; round < 2; round++) {
      assert.equal(await relay.tick(), 8, 'released claims are taken again');
      await relay.drain();
    }
    assert.equal((await relay.backlog()).count, 8);
    assert.equal(state.rejected, 16);
    assert.deepEqual(seen, []);
    const failed = await db.selectFrom('outbox').selectAll().execute();
    for (const row of failed) {
      assert.equal(row.published_at, null);
      assert.equal(row.claimed_until, null, 'claim released for the next round');
      assert.equal(row.last_error, 'broker unavailable');
    }

    state.down = false;
    assert.equal(await relayAll(relay), 8);
    assert.equal((await relay.backlog()).count, 0);
    assert.deepEqual([...seen].sort(), ids, 'each delivered exactly once');
    assert.deepEqual(relay.stats, { published: 8, failed: 16 });
  });

  it('retries events whose publish was rejected N times, none delivered twice', async (t) => {
    await db.deleteFrom('outbox').execute();
    const { bus, state } = flakyBus(ctx.bus, 5);
    const seen = await probe(t, ctx.bus);
    const relay = new OutboxRelay(db, bus, silent, relayOptions({ pollMs: 5 }));
    const ids = await seed(db, 12);
    relay.start();
    t.after(() => relay.stop());
    await waitFor(async () => (await relay.backlog()).count === 0, 'backlog drained');
    await relay.stop();
    assert.equal(state.rejected, 5);
    assert.deepEqual([...seen].sort(), ids);
    const attempts = (await db.selectFrom('outbox').select('attempts').execute()).map(
      (r) => r.attempts,
    );
    assert.equal(
      attempts.reduce((sum, n) => sum + n, 0),
      12 + 5,
      'one extra claim per rejection',
    );
  });

  it(
    'backs off between rounds while every publish fails',
    { todo: 'BUG: relay retries fast-failing publishes in a hot loop; see report' },
    async (t) => {
      await db.deleteFrom('outbox').execute();
      const times: number[] = [];
      const { bus, state } = flakyBus(ctx.bus);
      state.down = true;
      const failing: EventBus = {
        ...bus,
        publish: (events) => {
          times.push(Date.now());
          return bus.publish(events);
        },
      };
      const pollMs = 50;
      const relay = new OutboxRelay(db, failing, silent, relayOptions({ pollMs }));
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
    },
  );

  it('two relays on one database share the work and never publish an event twice', async () => {
    await db.deleteFrom('outbox').execute();
    const ids = await seed(db, 300);
    // On Postgres the second relay gets its own pool, like a second worker process.
    const url = ctx.config.databaseUrl;
    const other = url ? await openDatabase({ databaseUrl: url, dataDir: '', poolSize: 4 }) : null;
    try {
      const published = new Map<string, number>();
      const perRelay: Record<string, number> = {};
      const inFlight = new Set<string>();
      let overlaps = 0;
      const recording = (name: string): EventBus => ({
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
            perRelay[name] = (perRelay[name] ?? 0) + 1;
          }
        },
      });
      const opts = relayOptions({ batchSize: 10 });
      const relays = [
        new OutboxRelay(db, recording('one'), silent, opts),
        new OutboxRelay(other?.db ?? db, recording('two'), silent, opts),
      ];
      await Promise.all(relays.map(relayAll));
      assert.equal(overlaps, 0, 'no event published while or after another relay published it');
      assert.deepEqual([...published.keys()].sort(), ids, 'every event published');
      assert.ok(
        [...published.values()].every((n) => n === 1),
        'each exactly once',
      );
      assert.ok(
        perRelay.one! > 0 && perRelay.two! > 0,
        `both took a share: ${JSON.stringify(perRelay)}`,
      );
      assert.equal(await unpublished(db), 0);
    } finally {
      await other?.close();
    }
  });

  it('a claim blocks other relays until its lease expires, then they take it over', async () => {
    await db.deleteFrom('outbox').execute();
    const ids = await seed(db, 3);
    const { bus } = flakyBus(ctx.bus);
    const stuck: EventBus = { ...bus, publish: () => new Promise<void>(() => {}) }; // a crashed relay
    const first = new OutboxRelay(db, stuck, silent, relayOptions());
    assert.equal(await first.tick(), 3);
    const published: string[] = [];
    const second = new OutboxRelay(
      db,
      { ...bus, publish: async (events) => void published.push(...events.map((e) => e.id)) },
      silent,
      relayOptions(),
    );
    assert.equal(await second.tick(), 0, 'claimed events are skipped while the lease holds');
    await db
      .updateTable('outbox')
      .set({ claimed_until: new Date(Date.now() - 1_000) })
      .execute();
    assert.equal(await relayAll(second), 3);
    assert.deepEqual(published.sort(), ids);
    assert.equal(await unpublished(db), 0);
  });
});

describe('applyOnce', () => {
  let db: Db;
  before(async () => {
    ({
      ctx: {
        database: { db },
      },
    } = await createTestApp());
  });

  it('applies an event once per consumer; a redelivery returns false without the effect', async () => {
    const eventId = newId();
    let applied = 0;
    const effect = async () => void (applied += 1);
    assert.equal(await applyOnce(db, 'mailer', eventId, effect), true);
    assert.equal(await applyOnce(db, 'mailer', eventId, effect), false);
    assert.equal(applied, 1);
    assert.equal(await applyOnce(db, 'notifier', eventId, effect), true, 'other consumer');
    assert.equal(applied, 2);
    const marks = await db
      .selectFrom('processed_events')
      .selectAll()
      .where('event_id', '=', eventId)
      .execute();
    assert.deepEqual(marks.map((m) => m.consumer).sort(), ['mailer', 'notifier']);
  });

  it('records nothing when the effect fails, so the retry applies it', async () => {
    const eventId = newId();
    await assert.rejects(
      applyOnce(db, 'mailer', eventId, async () => {
        throw new Error('smtp down');
      }),
      /smtp down/,
    );
    let applied = 0;
    assert.equal(await applyOnce(db, 'mailer', eventId, async () => void (applied += 1)), true);
    assert.equal(applied, 1);
  });

  it('the effect runs in the transaction that records the event', async () => {
    const eventId = newId();
    const userId = newId();
    await applyOnce(db, 'outbox-writer', eventId, (trx) =>
      recordEvent(trx, 'user.registered', { user_id: userId }).then(() => undefined),
    );
    await assert.rejects(
      applyOnce(db, 'outbox-writer', newId(), async (trx) => {
        await recordEvent(trx, 'user.registered', { user_id: userId });
        throw new Error('fails after writing');
      }),
    );
    const rows = await db.selectFrom('outbox').select('data').execute();
    assert.equal(rows.filter((r) => (r.data as { user_id: string }).user_id === userId).length, 1);
  });

  it('concurrent deliveries of one event apply it once', async () => {
    const eventId = newId();
    let applied = 0;
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        applyOnce(db, 'racer', eventId, async () => void (applied += 1)),
      ),
    );
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(applied, 1);
  });
});

describe('feed fan-out through the worker role', () => {
  let app: TestApp['app'];
  let ctx: Ctx;
  before(async () => {
    ({ app, ctx } = await createTestApp({ env: { OUTBOX_POLL_MS: '10' } }));
  });
  const timeline = async (user: Account) =>
    (await ctx.timelines.range(`home:${user.id}`, { limit: 100 })).map((e) => e.id);

  it('pushes a new post into existing timelines of author and followers, and removes it on delete', async (t) => {
    const [author, ready, cold, stranger] = [
      await createAccount(app),
      await createAccount(app),
      await createAccount(app),
      await createAccount(app),
    ];
    for (const follower of [ready, cold]) {
      const res = await app.inject({
        method: 'POST',
        url: `${API}/users/${author.username}/follow`,
        headers: follower.auth,
      });
      assert.equal(res.statusCode, 200, res.body);
    }
    for (const user of [author, ready, stranger])
      await ctx.timelines.replace(`home:${user.id}`, [], 800);
    const worker = await startWorker(ctx);
    t.after(() => worker.stop());

    const res = await app.inject({
      method: 'POST',
      url: `${API}/posts`,
      headers: author.auth,
      payload: { text: 'fan me out' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const postId = res.json<{ id: string }>().id;
    await waitFor(
      async () => (await timeline(ready)).includes(postId),
      'post in follower timeline',
    );
    await waitFor(async () => (await ctx.relay.backlog()).count === 0, 'relay caught up');
    assert.deepEqual(await timeline(ready), [postId]);
    assert.deepEqual(await timeline(author), [postId]);
    assert.equal(
      await ctx.timelines.exists(`home:${cold.id}`),
      false,
      'absent timeline stays absent',
    );
    assert.deepEqual(await timeline(stranger), [], 'non-followers get nothing');

    const del = await app.inject({
      method: 'DELETE',
      url: `${API}/posts/${postId}`,
      headers: author.auth,
    });
    assert.equal(del.statusCode, 204, del.body);
    await waitFor(async () => (await timeline(ready)).length === 0, 'post removed from follower');
    await waitFor(async () => (await ctx.relay.backlog()).count === 0, 'relay caught up');
    assert.deepEqual(await timeline(author), []);
    assert.equal(await ctx.timelines.exists(`home:${cold.id}`), false);
    const counted = await ctx.metrics.registry.getSingleMetricAsString(
      'kith_consumer_events_total',
    );
    assert.match(counted, /kith_consumer_events_total\{group="feed",outcome="handled"\} 2$/m);
  });
});
