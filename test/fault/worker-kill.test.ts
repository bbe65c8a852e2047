/**
 * A worker killed in the middle of a fan-out batch (issue 11). The worker is a real process
 * (`kith worker`) on the real Postgres, Redis and RabbitMQ; the API runs in the test. To kill it
 * at a known point, the test holds a row lock on one follower of the third batch: the worker
 * has pushed the post into that batch's timelines and waits to append the batch's stream
 * events. SIGKILL there leaves the event unacknowledged; a new worker gets it again and redoes
 * the fan-out. Timeline pushes are idempotent and each batch's stream events are applied once,
 * so every follower ends with the post in their timeline and exactly one `feed.post` event.
 * Split roles need the real services: the embedded run skips this file.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createAccount, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import { sample, startKith } from '../support/processes.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';
import { postgresUrl } from '../support/test-databases.ts';
import { waitFor } from '../support/wait.ts';

const REAL = Boolean(postgresUrl() && redisUrl() && amqpUrl());
const redis = REAL ? await testRedis() : undefined; // removes this file's keys afterwards
const [FOLLOWERS, BATCH] = [50, 10];
const GROUPS = ['feed', 'mail', 'notifications'];
/** Sessions of this database waiting for a lock (another database's tests may wait too). */
const WAITING_FOR_A_LOCK = `select 1 from pg_stat_activity
  where datname = current_database() and wait_event_type = 'Lock'`;

describe(
  'a worker killed in the middle of a fan-out batch',
  {
    skip: !REAL && 'needs DATABASE_URL, REDIS_URL and AMQP_URL: the worker is its own process',
    timeout: 120_000,
  },
  () => {
    const amqpPrefix = `${testPrefix}.kill`;
    const redisPrefix = `${testPrefix}:kill:`;
    after(() => deleteAmqpTopology(amqpUrl()!, amqpPrefix, GROUPS));

    it('redelivers the event; the new worker leaves every timeline and stream exact', async (t) => {
      const services = {
        REDIS_URL: redisUrl(),
        REDIS_PREFIX: redisPrefix,
        AMQP_URL: amqpUrl(),
        AMQP_PREFIX: amqpPrefix,
      };
      // The API in this process (no worker here: the relay and consumers run in the children).
      const { app, ctx } = await createTestApp({ env: { ...services } });
      const workerEnv = {
        ...services,
        DATABASE_URL: ctx.config.databaseUrl,
        METRICS_PORT: '0',
        FEED_FANOUT_BATCH: String(BATCH),
      };
      const metricsOf = async (worker: Awaited<ReturnType<typeof startKith>>) => {
        const url = worker.logged('worker started')[0]!.metrics as string;
        return (await fetch(url)).text();
      };
      const first = await startKith('worker', workerEnv);
      t.after(() => void first.child.kill('SIGKILL'));

      const author = await createAccount(app);
      const followers: Account[] = [];
      for (let i = 0; i < FOLLOWERS; i++) {
        const f = await createAccount(app);
        const follow = await app.inject({
          method: 'POST',
          url: `/api/v1/users/${author.username}/follow`,
          headers: f.auth,
        });
        assert.equal(follow.statusCode, 200, follow.body);
        // Reading the feed builds the follower's timeline: fan-out only fills existing ones.
        assert.equal((await app.inject({ url: '/api/v1/feed', headers: f.auth })).statusCode, 200);
        followers.push(f);
      }
      // Everything so far handled by the worker: the follows (feed), their notifications.
      await waitFor(
        async () => {
          const text = await metricsOf(first);
          const handled = (group: string) =>
            sample(text, 'kith_consumer_events_total', { group, outcome: 'handled' });
          return handled('feed') >= FOLLOWERS && handled('notifications') >= FOLLOWERS;
        },
        'the follows handled',
        30_000,
      );

      // Batches go by follower id; the 26th follower is in the third batch.
      followers.sort((a, b) => (a.id < b.id ? -1 : 1));
      const locker = new pg.Client({ connectionString: ctx.config.databaseUrl });
      await locker.connect();
      t.after(() => locker.end());
      await locker.query('begin');
      await locker.query('select 1 from users where id = $1 for update', [followers[25]!.id]);

      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/posts',
        headers: author.auth,
        payload: { text: 'to fifty timelines' },
      });
      assert.equal(res.statusCode, 201, res.body);
      const postId = res.json<{ id: string }>().id;
      const holding = async () => {
        const pipeline = redis!.pipeline();
        for (const f of followers) pipeline.zscore(`${redisPrefix}tl:home:${f.id}`, postId);
        const scores = (await pipeline.exec())!.map(([, score]) => score);
        return followers.filter((_, i) => scores[i] !== null);
      };
      const announced = async () => {
        const { rows } = await locker.query<{ user_id: string }>(
          `select user_id from stream_events where type = 'feed.post' and data->>'post_id' = $1`,
          [postId],
        );
        return rows.map((r) => r.user_id);
      };
      const waiting = async () => ((await locker.query(WAITING_FOR_A_LOCK)).rowCount ?? 0) > 0;
      await waitFor(
        async () => (await waiting()) && (await holding()).length === 3 * BATCH,
        'the worker stopped at the lock in the third batch',
      );

      first.child.kill('SIGKILL');
      assert.deepEqual(await first.exited, { code: null, signal: 'SIGKILL' });
      await locker.query('rollback');
      // Where the kill landed: three batches pushed, two announced, nothing more.
      const ids = (list: { id: string }[]) => list.map((f) => f.id).sort();
      assert.deepEqual(ids(await holding()), ids(followers.slice(0, 3 * BATCH)));
      assert.deepEqual((await announced()).sort(), ids(followers.slice(0, 2 * BATCH)));

      const second = await startKith('worker', workerEnv);
      t.after(async () => {
        second.child.kill('SIGTERM');
        await second.exited;
      });
      await waitFor(
        async () => (await announced()).length >= FOLLOWERS,
        'the new worker finished the fan-out',
        30_000,
      );
      assert.deepEqual(ids(await holding()), ids(followers), 'every timeline holds the post');
      assert.deepEqual((await announced()).sort(), ids(followers), 'one feed.post per follower');
      const text = await metricsOf(second);
      assert.equal(
        sample(text, 'kith_consumer_events_total', { group: 'feed', outcome: 'handled' }),
        1,
        'the new worker got the post.created again and handled it once',
      );
      for (const f of [followers[0]!, followers[25]!, followers.at(-1)!]) {
        const feed = await app.inject({ url: '/api/v1/feed', headers: f.auth });
        assert.deepEqual(
          feed.json<{ items: { id: string }[] }>().items.map((p) => p.id),
          [postId],
          `${f.username}'s feed`,
        );
      }
    });
  },
);
