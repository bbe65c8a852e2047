/**
 * Overload degrades, never starves (issue 18): on a real Postgres pool whose connections are all
 * taken (statements waiting on an advisory lock this test holds), a request that would queue
 * behind too many others answers 503 `overloaded` with `Retry-After: 1` at once; a warm home feed
 * is still served from memory, and one that needs SQL serves what is cached instead of failing;
 * slow reads (search) cannot take every connection from the rest. Once the lock is released,
 * everything is served again. The embedded run (PGlite: one connection, no pool) skips this file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import type { RunningRole } from '../../src/app/roles/api.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { authorTimeline } from '../../src/modules/feed/merge-sources.ts';
import { api, type Res } from '../support/api.ts';
import { drain } from '../support/drain.ts';
import type { Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';
import { postgresUrl } from '../support/test-databases.ts';
import { waitFor } from '../support/wait.ts';

const LOCK = 4242;
/** What "at once" means here: far below any timeout a client would use. */
const QUICK_MS = 1_000;

const needsPostgres = {
  skip: !postgresUrl() && 'needs DATABASE_URL (a real connection pool)',
  timeout: 60_000,
};

let app: App;
let ctx: Context;
let worker: RunningRole | undefined;
let locker: pg.Client | undefined;
const m = api(() => app);

/** Takes every pooled connection: each runs a statement waiting for the lock this test holds. */
async function takeConnections(count: number, run = (work: () => Promise<unknown>) => work()) {
  const held = Array.from({ length: count }, () =>
    run(() => sql`select pg_advisory_xact_lock_shared(${LOCK})`.execute(ctx.database.db)),
  );
  await waitFor(async () => ctx.database.pool().busy >= count, 'connections taken');
  return held;
}

async function timed(res: Promise<Res>) {
  const started = performance.now();
  const out = await res;
  return { res: out, ms: performance.now() - started };
}

const feedIds = async (who: Account) =>
  (await m.json<{ items: { id: string }[] }>('GET', '/feed?limit=20', who)).items.map((p) => p.id);

describe('overload on a saturated Postgres pool', needsPostgres, () => {
  before(async () => {
    ({ app, ctx } = await createTestApp({
      env: {
        OUTBOX_POLL_MS: '10',
        DATABASE_POOL_SIZE: '4',
        DATABASE_MAX_WAITING: '2',
        DATABASE_SLOW_CONNECTIONS: '1',
        // Waiting requests wait for the lock, not for a timeout.
        DATABASE_CONNECT_TIMEOUT_MS: '30000',
        DATABASE_REQUEST_TIMEOUT_MS: '30000',
        FEED_FANOUT_MAX_FOLLOWERS: '2',
      },
    }));
    worker = await startWorker(ctx);
    locker = new pg.Client({ connectionString: ctx.config.databaseUrl });
    await locker.connect();
  });
  after(async () => {
    await locker?.end();
    await worker?.stop();
  });

  /** Holds the lock for the test's duration; returns the release. */
  async function lock() {
    await locker!.query('select pg_advisory_lock($1)', [LOCK]);
    return () => locker!.query('select pg_advisory_unlock($1)', [LOCK]);
  }

  it('refuses a request beyond the waiting room at once with 503 overloaded, then serves again', async () => {
    const [viewer] = await m.accounts(1);
    await m.json('GET', '/notifications', viewer); // its session and status are cached
    const release = await lock();
    const held = await takeConnections(4);
    const waiting = [
      m.call('GET', '/notifications', viewer),
      m.call('GET', '/notifications', viewer),
    ];
    await waitFor(async () => ctx.database.pool().waiting >= 2, 'two requests waiting');

    const refused = await timed(m.call('GET', '/notifications', viewer));
    assertProblem(refused.res, 503, 'overloaded');
    assert.equal(refused.res.headers['retry-after'], '1');
    assert.ok(refused.ms < QUICK_MS, `answered in ${Math.round(refused.ms)} ms`);

    await release();
    await Promise.all(held);
    for (const res of await Promise.all(waiting)) assert.equal(res.statusCode, 200, res.body);
    assert.equal((await m.call('GET', '/notifications', viewer)).statusCode, 200);
  });

  it('serves a warm home feed from memory, and what is cached when the page needs SQL', async () => {
    const [viewer, small, big, f1, f2] = await m.accounts(5);
    for (const who of [viewer, f1, f2]) await m.follow(who, big); // three followers: big
    await m.follow(viewer, small);
    const ids: string[] = [];
    // One at a time: with a pool of four, a crowd of writes is itself refused (as tested above).
    for (const [who, text] of [
      [small, 'fanned out'],
      [small, 'fanned out'],
      [big, 'merged when read'],
      [big, 'merged when read'],
    ] as const)
      ids.push((await m.post(who, { text })).id);
    await drain(ctx);
    const everything = await feedIds(viewer);
    assert.deepEqual([...everything].sort(), [...ids].sort());
    const fannedOut = everything.filter((id) => ids.indexOf(id) < 2);

    const release = await lock();
    const held = await takeConnections(4);
    const waiting = [
      m.call('GET', '/notifications', viewer),
      m.call('GET', '/notifications', viewer),
    ];
    await waitFor(async () => ctx.database.pool().waiting >= 2, 'two requests waiting');

    const warm = await timed(m.call('GET', '/feed?limit=20', viewer));
    assert.equal(warm.res.statusCode, 200, warm.res.body);
    assert.deepEqual(
      warm.res.json<{ items: { id: string }[] }>().items.map((p) => p.id),
      everything,
      'a warm page needs no connection',
    );
    assert.ok(warm.ms < QUICK_MS, `answered in ${Math.round(warm.ms)} ms`);

    // The big account's posts must now come from SQL, which cannot answer: the fanned-out part.
    await ctx.timelines.delete(authorTimeline(big.id));
    const degraded = await timed(m.call('GET', '/feed?limit=20', viewer));
    assert.equal(degraded.res.statusCode, 200, degraded.res.body);
    assert.deepEqual(
      degraded.res.json<{ items: { id: string }[] }>().items.map((p) => p.id),
      fannedOut,
    );
    assert.ok(degraded.ms < QUICK_MS, `answered in ${Math.round(degraded.ms)} ms`);

    await release();
    await Promise.all([...held, ...waiting]);
    assert.deepEqual(await feedIds(viewer), everything, 'whole again once the database answers');
  });

  it('keeps slow reads to their share of the pool: search is refused, the rest is served', async () => {
    const [viewer] = await m.accounts(1);
    await m.post(viewer, { text: 'findable words' });
    await m.json('GET', '/notifications', viewer);
    const release = await lock();
    // The slow lane (one connection, two waiting) is full: one search runs, two wait.
    const held = await takeConnections(1, (work) => ctx.database.slow.run(work));
    const queued = [1, 2].map(() =>
      ctx.database.slow.run(() =>
        sql`select pg_advisory_xact_lock_shared(${LOCK})`.execute(ctx.database.db),
      ),
    );
    assert.deepEqual(ctx.database.slow.load, { running: 1, waiting: 2 });

    const search = await timed(m.call('GET', '/search?type=posts&q=findable', viewer));
    assertProblem(search.res, 503, 'overloaded');
    assert.ok(search.ms < QUICK_MS, `answered in ${Math.round(search.ms)} ms`);
    const light = await timed(m.call('GET', '/notifications', viewer));
    assert.equal(light.res.statusCode, 200, light.res.body);

    await release();
    await Promise.all([...held, ...queued]);
    const found = await m.json<{ items: unknown[] }>(
      'GET',
      '/search?type=posts&q=findable',
      viewer,
    );
    assert.equal(found.items.length, 1);
  });
});
