/**
 * Redis cut off (issue 11), for what test/e2e/hydration-cache.test.ts and feed-fanout.test.ts do not
 * already cover: in one outage, sign-up, login and token refresh (rate limits skip Redis), the
 * home feed (timeline store down), profiles and posts all answer from Postgres with the same
 * content as before; a post written meanwhile reaches its followers' timelines once Redis is
 * back, through the consumer's retries (no dead letter, no replay); and reads go back to Redis:
 * the feed from the timeline, hydration from the cache (kith_feed_reads_total,
 * kith_cache_requests_total).
 * Needs a real Redis to cut: the embedded run (in-memory cache and timelines) skips this file.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Context } from '../../src/app/context.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { drain } from '../support/drain.ts';
import { createAccount, newUser, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';

const REDIS = redisUrl();
const AMQP = amqpUrl();
const redis = REDIS ? await testRedis() : undefined; // removes this file's keys afterwards
const topologies: [string, string[]][] = [];
after(async () => {
  for (const [prefix, groups] of topologies) await deleteAmqpTopology(AMQP!, prefix, groups);
});

/** Sum of the samples of a counter with these labels (0 when there is none). */
async function sample(ctx: Context, name: string, labels: Record<string, string>) {
  const { values } = await ctx.metrics.registry.getSingleMetric(name)!.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('a Redis outage', { skip: !REDIS && 'needs REDIS_URL (a real Redis to cut)' }, () => {
  it('serves sign-up, login, feed, profiles and posts from Postgres, and goes back to Redis after', async (t) => {
    const proxy = new TcpProxy(REDIS!);
    const REDIS_URL = await proxy.start(REDIS!);
    const [redisPrefix, amqpPrefix] = [`${testPrefix}:redis:`, `${testPrefix}.redis`];
    const { app, ctx } = await createTestApp({
      env: {
        REDIS_URL,
        REDIS_PREFIX: redisPrefix,
        ...(AMQP && { AMQP_URL: AMQP, AMQP_PREFIX: amqpPrefix }),
        OUTBOX_POLL_MS: '10',
        // About 10 s of retries: enough to outlast the outage, so nothing is dead-lettered.
        CONSUMER_RETRY_DELAYS_MS: '100,200,400,800,1600',
        CONSUMER_MAX_ATTEMPTS: '10',
      },
    });
    if (AMQP) topologies.push([amqpPrefix, ctx.consumers.map((c) => c.group)]);
    const worker = await startWorker(ctx);
    t.after(async () => {
      proxy.restore();
      await worker.stop();
      await proxy.close();
    });
    const status = () => ctx.redis!.status;
    await waitFor(() => status() === 'ready', 'redis connected through the proxy');

    const get = async (path: string, who?: Account) => {
      const res = await app.inject({ url: `/api/v1${path}`, headers: who?.auth ?? {} });
      assert.equal(res.statusCode, 200, `GET ${path}: ${res.body}`);
      return res.json<Record<string, unknown>>();
    };
    const post = async (who: Account, path: string, payload?: object, status = 200) => {
      const res = await app.inject({
        method: 'POST',
        url: `/api/v1${path}`,
        headers: who.auth,
        ...(payload && { payload }),
      });
      assert.equal(res.statusCode, status, `POST ${path}: ${res.body}`);
      return res.json<Record<string, string>>();
    };
    const reads = (source: string) => sample(ctx, 'kith_feed_reads_total', { source });
    const cache = (result: string) => sample(ctx, 'kith_cache_requests_total', { result });
    const timeline = (who: Account) => redis!.zrange(`${redisPrefix}tl:home:${who.id}`, '0', '-1');

    const [author, reader] = [await createAccount(app), await createAccount(app)];
    await post(reader, `/users/${author.username}/follow`);
    const first = await post(author, '/posts', { text: 'before the outage' }, 201);
    await post(reader, `/posts/${first.id}/like`);
    await drain(ctx);
    // Warm: what the outage must not change. The feed builds the reader's timeline.
    const paths = [
      [`/feed`, reader],
      [`/users/${author.username}`, reader],
      [`/users/${author.username}/posts`, reader],
      [`/posts/${first.id}`, reader],
      [`/me`, author],
    ] as const;
    const warm = await Promise.all(paths.map(([path, who]) => get(path, who)));
    assert.ok((await timeline(reader)).includes(first.id!), 'the timeline holds the post');
    const [timeline0, sql0] = [await reads('timeline'), await reads('sql')];

    proxy.cut();
    await waitFor(() => status() !== 'ready', 'the client noticed the cut');
    const errors0 = await cache('error');
    assert.deepEqual(
      await Promise.all(paths.map(([path, who]) => get(path, who))),
      warm,
      'the same answers, from Postgres',
    );
    assert.deepEqual([await reads('timeline'), await reads('sql')], [timeline0, sql0 + 1]);
    assert.ok((await cache('error')) > errors0, 'the cache look-ups failed and were counted');
    // Accounts and sessions never needed Redis: rate limits let requests through.
    const fresh = newUser();
    const registered = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: fresh,
    });
    assert.equal(registered.statusCode, 201, registered.body);
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: fresh.username, password: fresh.password },
    });
    assert.equal(login.statusCode, 200, login.body);
    const refresh = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/refresh',
      payload: { refresh_token: login.json<{ refresh_token: string }>().refresh_token },
    });
    assert.equal(refresh.statusCode, 200, refresh.body);
    // A post written now cannot be fanned out yet: its consumer retries.
    const second = await post(author, '/posts', { text: 'during the outage' }, 201);
    const retried = { group: 'feed', outcome: 'retried' };
    await waitFor(
      async () => (await sample(ctx, 'kith_consumer_events_total', retried)) > 0,
      'a fan-out retry',
    );
    const feedNow = (await get('/feed', reader)).items as { id: string }[];
    assert.deepEqual(
      feedNow.map((p) => p.id),
      [second.id, first.id],
      'the feed from SQL already has it',
    );

    proxy.restore();
    await waitFor(() => status() === 'ready', 'redis reconnected');
    await waitFor(
      async () => (await timeline(reader)).includes(second.id!),
      'fanned out after the outage',
      20_000,
    );
    await drain(ctx);
    const dead = { group: 'feed', outcome: 'dead_lettered' };
    assert.equal(await sample(ctx, 'kith_consumer_events_total', dead), 0, 'nothing dead-lettered');
    const [timeline1, sql1, hits1] = [
      await reads('timeline'),
      await reads('sql'),
      await cache('hit'),
    ];
    const feedAfter = (await get('/feed', reader)).items as { id: string }[];
    assert.deepEqual(
      feedAfter.map((p) => p.id),
      [second.id, first.id],
    );
    assert.deepEqual(
      [await reads('timeline'), await reads('sql')],
      [timeline1 + 1, sql1],
      'the feed comes from the timeline again',
    );
    await get(`/posts/${first.id}`, reader);
    assert.ok((await cache('hit')) > hits1, 'the cache serves again');
  });
});
