/**
 * The feed consumer and its limits, through the public API with a worker running in-process:
 * fan-out into existing timelines, the cap and the SQL continuation past it, idle followers,
 * big accounts merged at read time, graph changes, and reads while Redis is unreachable.
 * Timelines are observed through ctx.timelines (Redis sorted sets when REDIS_URL is set).
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Env } from '../../config.ts';
import { startWorker } from '../../app/roles/worker.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { createAccount, type Account } from '../../../test/support/factories.ts';
import { drain } from '../../../test/support/drain.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../../../test/support/services.ts';
import { TcpProxy } from '../../../test/support/tcp-proxy.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { FeedRepository } from './feed.repository.ts';

const API = '/api/v1';
const DAY_MS = 86_400_000;
type Page = { items: { id: string }[]; next_cursor: string | null };
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** RabbitMQ prefixes used here, with the consumer groups of their app: removed after the file. */
const topologies: [prefix: string, groups: () => string[]][] = [];
if (redisUrl()) await testRedis(); // removes this file's Redis keys afterwards
after(async () => {
  for (const [prefix, groups] of topologies) await deleteAmqpTopology(amqpUrl()!, prefix, groups());
});

const ids = (items: { id: string }[]) => items.map((p) => p.id);
/** UUIDv7 ids sort like their creation time. */
const newestFirst = (...list: string[]) => [...list].sort().reverse();

/**
 * An app on this run's services (Redis and RabbitMQ when set, under their own prefixes), with
 * a worker unless told otherwise, and helpers bound to it. `stop()` ends the worker.
 */
async function kith(name: string, env: Env = {}, { worker = true } = {}) {
  const [redis, amqp] = [redisUrl(), amqpUrl()];
  const { app, ctx } = await createTestApp({
    env: {
      OUTBOX_POLL_MS: '10',
      ...(redis && { REDIS_URL: redis, REDIS_PREFIX: `${testPrefix}:${name}:` }),
      ...(amqp && { AMQP_URL: amqp, AMQP_PREFIX: `${testPrefix}.${name}` }),
      ...env,
    },
  });
  if (amqp) topologies.push([`${testPrefix}.${name}`, () => ctx.consumers.map((c) => c.group)]);
  const running = worker ? await startWorker(ctx) : undefined;
  const call = async <T>(m: Method, url: string, who: Account, payload?: object, status = 200) => {
    const res = await app.inject({
      method: m,
      url: `${API}${url}`,
      headers: who.auth,
      ...(payload && { payload }),
    });
    assert.equal(res.statusCode, status, `${m} ${url}: ${res.body}`);
    return (res.body ? res.json() : undefined) as T;
  };
  const key = (who: Account) => `home:${who.id}`;
  const feed = (who: Account, query = '') => call<Page>('GET', `/feed${query}`, who);
  const { db } = ctx.database;
  return {
    ctx,
    stop: async () => running?.stop(),
    drain: () => drain(ctx),
    users: (n: number) => Promise.all(Array.from({ length: n }, () => createAccount(app))),
    post: async (who: Account) =>
      (await call<{ id: string }>('POST', '/posts', who, { text: 'hi' }, 201)).id,
    follow: (a: Account, b: Account) => call('POST', `/users/${b.username}/follow`, a),
    unfollow: (a: Account, b: Account) => call('DELETE', `/users/${b.username}/follow`, a),
    call,
    feed,
    /** Ids of the first page of up to 100. */
    read: async (who: Account) => ids((await feed(who, '?limit=100')).items),
    /** Every page, followed through next_cursor. */
    async readAll(who: Account, limit: number) {
      const seen: string[] = [];
      let cursor: string | null = '';
      do {
        const page = await feed(who, `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        assert.ok(page.items.length <= limit);
        seen.push(...ids(page.items));
        cursor = page.next_cursor;
      } while (cursor);
      return seen;
    },
    timeline: async (who: Account) =>
      ids((await ctx.timelines.range(key(who), { limit: 1000 })) ?? []),
    hasTimeline: (who: Account) => ctx.timelines.exists(key(who)),
    reference: (who: Account) => new FeedRepository(db).feedIds(who.id, undefined, 1000),
    fanOut: async (postId: string) =>
      (await db.selectFrom('posts').select('fan_out').where('id', '=', postId).executeTakeFirst())
        ?.fan_out,
    /** Sets when the user was last active; after their last request (activity is throttled). */
    idleFor: (who: Account, days: number) =>
      db
        .updateTable('users')
        .set({ last_active_at: new Date(Date.now() - days * DAY_MS) })
        .where('id', '=', who.id)
        .execute(),
    /** Sum of a metric's samples (`series` names a histogram's _sum or _count) with `labels`. */
    async sample(name: string, labels: Record<string, string> = {}, series = name) {
      const { values } = await ctx.metrics.registry.getSingleMetric(name)!.get();
      const match = (l: object) => Object.entries(labels).every(([k, v]) => l[k as never] === v);
      return values
        .filter(
          (v: { metricName?: string; labels: object }) =>
            (v.metricName ?? name) === series && match(v.labels),
        )
        .reduce((sum, v) => sum + v.value, 0);
    },
  };
}
type Kith = Awaited<ReturnType<typeof kith>>;

/** One app (and worker) per describe block, stopped after it. */
function withKith(name: string, env: Env = {}) {
  const k = {} as Kith;
  before(async () => void Object.assign(k, await kith(name, env)));
  after(() => k.stop());
  return k;
}

describe('fan-out, with default settings but FEED_FANOUT_BATCH=2', { timeout: 60_000 }, () => {
  const k = withKith('defaults', { FEED_FANOUT_BATCH: '2' });

  it('announces a new post in the streams of followers with a timeline, and its deletion, once each', async () => {
    const [author, f1, f2, f3, idle, cold] = await k.users(6);
    for (const f of [f1, f2, f3, idle, cold]) await k.follow(f!, author!);
    for (const f of [f1, f2, f3, idle]) await k.read(f!); // builds their timelines
    await k.drain();
    await k.idleFor(idle!, 40);
    const postId = await k.post(author!);
    await k.drain();
    const consumer = k.ctx.consumers.find((c) => c.group === 'feed')!;
    const { db } = k.ctx.database;
    const created = await db
      .selectFrom('outbox')
      .select(['id', 'type', 'data', 'created_at'])
      .where('type', '=', 'post.created')
      .where(({ eb }) => eb(eb.ref('data', '->>').key('post_id'), '=', postId))
      .executeTakeFirstOrThrow();
    const event = {
      id: created.id,
      type: created.type,
      data: created.data,
      occurred_at: created.created_at.toISOString(),
    };
    await consumer.handle(event, 2); // a redelivery adds nothing
    await k.call('DELETE', `/posts/${postId}`, author!, undefined, 204);
    await k.drain();
    const events = async (who: Account) =>
      (
        await db
          .selectFrom('stream_events')
          .select(['type', 'data'])
          .where('user_id', '=', who.id)
          .where('type', 'in', ['feed.post', 'post.deleted'])
          .orderBy('seq')
          .execute()
      ).map((e) => [e.type, (e.data as { post_id?: string }).post_id]);
    for (const f of [f1, f2, f3])
      assert.deepEqual(await events(f!), [
        ['feed.post', postId],
        ['post.deleted', postId],
      ]);
    assert.deepEqual(await events(idle!), [], 'idle followers get no stream events');
    assert.deepEqual(await events(cold!), [['post.deleted', postId]], 'no timeline: no feed.post');
    assert.deepEqual(await events(author!), [], 'nor does the author');
  });

  it('pushes a post into the existing timelines of followers, batch by batch; an absent one stays absent and is rebuilt on read', async () => {
    const [author, r1, r2, r3, cold, stranger] = await k.users(6);
    for (const f of [r1, r2, r3, cold]) await k.follow(f!, author!);
    for (const u of [r1, r2, r3, stranger]) assert.deepEqual(await k.read(u!), []);
    const count = (metric: string) => k.sample(metric, {}, `${metric}_count`);
    const batches = await count('kith_feed_fanout_batch_size');
    const lags = await count('kith_feed_fanout_lag_seconds');
    const p = await k.post(author!);
    await k.drain();
    for (const r of [r1, r2, r3]) assert.deepEqual(await k.timeline(r!), [p]);
    assert.deepEqual(await k.timeline(stranger!), []);
    assert.equal(await k.hasTimeline(cold!), false, 'fan-out never creates a timeline');
    assert.equal(await k.hasTimeline(author!), false);
    assert.equal(
      await count('kith_feed_fanout_batch_size'),
      batches + 2,
      '4 followers, batches of 2',
    );
    assert.equal(await count('kith_feed_fanout_lag_seconds'), lags + 1);

    const rebuilds = await k.sample('kith_feed_timeline_rebuilds_total');
    assert.deepEqual(await k.read(cold!), [p]);
    assert.equal(await k.sample('kith_feed_timeline_rebuilds_total'), rebuilds + 1);
    assert.deepEqual(await k.timeline(cold!), [p]);
  });

  it("a follow merges the followee's recent posts into the timeline; unfollow, unfriend and block take them out", async () => {
    const [v, a, f, b, c] = await k.users(5);
    const befriend = async (x: Account, y: Account) => {
      await k.call('POST', `/users/${y.username}/friend-request`, x, undefined, 201);
      await k.call('POST', `/users/${x.username}/friend-request`, y);
    };
    const posted = [];
    for (const author of [a, a, f, b, c]) posted.push(await k.post(author!));
    assert.deepEqual(await k.read(v!), []); // v's timeline exists, empty
    await k.follow(v!, a!);
    await befriend(v!, f!);
    await k.follow(v!, b!);
    await k.follow(v!, c!);
    await k.drain();
    assert.deepEqual(await k.timeline(v!), newestFirst(...posted), 'merged by the follows');

    await k.unfollow(v!, a!);
    await k.call('DELETE', `/friends/${f!.username}`, v!, undefined, 204);
    await k.call('POST', `/users/${v!.username}/block`, b!);
    await k.call('POST', `/users/${c!.username}/block`, v!);
    await k.drain();
    assert.deepEqual(await k.timeline(v!), [], 'unfollow, unfriend and both blocks removed them');
    assert.deepEqual(await k.read(v!), []);
  });

  it("a deleted post leaves every follower's timeline", async () => {
    const [a, v, w] = await k.users(3);
    for (const f of [v, w]) await k.follow(f!, a!);
    for (const f of [v, w]) await k.read(f!);
    const [keep, gone] = [await k.post(a!), await k.post(a!)];
    await k.drain();
    for (const f of [v, w]) assert.deepEqual(await k.timeline(f!), [gone, keep]);
    await k.call('DELETE', `/posts/${gone}`, a!, undefined, 204);
    await k.drain();
    for (const f of [v, w]) assert.deepEqual(await k.timeline(f!), [keep]);
  });

  it('idle followers lose their timeline at the next fan-out (30 days), and get it rebuilt on read', async () => {
    const [a, active, lately, idle] = await k.users(4);
    for (const f of [active, lately, idle]) await k.follow(f!, a!);
    for (const f of [active, lately, idle]) await k.read(f!);
    // After their last request: activity is recorded at most hourly, so it will not reset this.
    await k.idleFor(lately!, 29);
    await k.idleFor(idle!, 40);
    const p = await k.post(a!);
    await k.drain();
    assert.deepEqual(await k.timeline(active!), [p]);
    assert.deepEqual(await k.timeline(lately!), [p], '29 days is still active');
    assert.equal(await k.hasTimeline(idle!), false, 'dropped instead of pushed to');

    const rebuilds = await k.sample('kith_feed_timeline_rebuilds_total');
    assert.deepEqual(await k.read(idle!), [p]);
    assert.equal(await k.sample('kith_feed_timeline_rebuilds_total'), rebuilds + 1);
    assert.deepEqual(await k.timeline(idle!), [p]);
  });
});

describe(
  'with FEED_TIMELINE_CAP=10, FEED_INACTIVE_DAYS=5, FEED_FANOUT_MAX_FOLLOWERS=2',
  { timeout: 60_000 },
  () => {
    const k = withKith('tuned', {
      FEED_TIMELINE_CAP: '10',
      FEED_INACTIVE_DAYS: '5',
      FEED_FANOUT_MAX_FOLLOWERS: '2',
    });

    it('keeps the newest 10 ids; pages past them continue from SQL without gaps or repeats', async () => {
      const [v, ...authors] = await k.users(6);
      for (const a of authors) await k.follow(v!, a);
      await k.read(v!);
      const [theirs, own] = [[] as string[], [] as string[]];
      for (let i = 0; i < 25; i++) {
        theirs.push(await k.post(authors[i % authors.length]!));
        if (i === 4 || i === 17) own.push(await k.post(v!));
      }
      await k.drain();
      assert.deepEqual(await k.timeline(v!), newestFirst(...theirs).slice(0, 10));
      const all = newestFirst(...theirs, ...own);
      assert.deepEqual(await k.readAll(v!, 7), all);
      assert.deepEqual(await k.reference(v!), all);

      await k.ctx.timelines.delete(`home:${v!.id}`);
      assert.deepEqual(await k.readAll(v!, 7), all, 'after a rebuild too');
      assert.deepEqual(await k.timeline(v!), newestFirst(...theirs).slice(0, 10), 'rebuilt capped');
    });

    it('5: a follower idle 6 days loses the timeline, one idle 4 days gets the post', async () => {
      const [a, four, six] = await k.users(3);
      for (const f of [four, six]) await k.follow(f!, a!);
      for (const f of [four, six]) await k.read(f!);
      await k.idleFor(four!, 4);
      await k.idleFor(six!, 6);
      const p = await k.post(a!);
      await k.drain();
      assert.deepEqual(await k.timeline(four!), [p]);
      assert.equal(await k.hasTimeline(six!), false);
      assert.deepEqual(await k.read(six!), [p]);
    });

    it('posts of an author with 3 followers are not fanned out but merged into each feed in place', async () => {
      const [big, small1, small2, f1, f2, f3] = await k.users(6);
      for (const f of [f1, f2, f3]) await k.follow(f!, big!);
      for (const f of [f1, f2]) await k.follow(f!, small1!); // 2 followers: fanned out
      await k.follow(f3!, small2!);
      for (const f of [f1, f2, f3]) await k.read(f!);
      const s1 = await k.post(small1!);
      const s2 = await k.post(small2!);
      const b = await k.post(big!);
      const s3 = await k.post(small1!);
      const s4 = await k.post(small2!);
      assert.deepEqual(
        [await k.fanOut(b), await k.fanOut(s1), await k.fanOut(s2)],
        [false, true, true],
      );
      await k.drain();
      for (const f of [f1, f2]) assert.deepEqual(await k.timeline(f!), [s3, s1]);
      assert.deepEqual(await k.timeline(f3!), [s4, s2]);

      const merged = await k.sample('kith_feed_read_merged_posts_total');
      for (const f of [f1, f2]) assert.deepEqual(await k.read(f!), [s3, b, s1]);
      assert.deepEqual(await k.read(f3!), [s4, b, s2]);
      assert.equal(await k.sample('kith_feed_read_merged_posts_total'), merged + 3);
      for (const f of [f1, f2, f3]) assert.deepEqual(await k.read(f!), await k.reference(f!));
    });

    it('a post keeps the way it was written when the author crosses the threshold, either way', async () => {
      const [author, f1, f2, f3] = await k.users(4);
      for (const f of [f1, f2, f3]) await k.follow(f!, author!);
      for (const f of [f1, f2, f3]) await k.read(f!);
      const whileBig = await k.post(author!);
      await k.unfollow(f3!, author!); // 2 followers now
      const whileSmall = await k.post(author!);
      assert.deepEqual([await k.fanOut(whileBig), await k.fanOut(whileSmall)], [false, true]);
      await k.drain();
      for (const f of [f1, f2]) {
        assert.deepEqual(await k.timeline(f!), [whileSmall]);
        assert.deepEqual(await k.read(f!), [whileSmall, whileBig]);
      }

      await k.follow(f3!, author!); // big again
      const bigAgain = await k.post(author!);
      assert.equal(await k.fanOut(bigAgain), false);
      await k.drain();
      for (const f of [f1, f2, f3]) {
        assert.deepEqual(
          await k.timeline(f!),
          [whileSmall],
          'the follow merged fanned-out posts only',
        );
        assert.deepEqual(await k.read(f!), [bigAgain, whileSmall, whileBig]);
      }
      await k.call('DELETE', `/posts/${whileBig}`, author!, undefined, 204);
      await k.drain();
      for (const f of [f1, f2, f3]) assert.deepEqual(await k.read(f!), [bigAgain, whileSmall]);
    });

    it('unfollowing an author who grew big takes their fanned-out posts out of the timeline', async () => {
      const [author, f1, f2, f3] = await k.users(4);
      for (const f of [f1, f2]) await k.follow(f!, author!);
      await k.read(f1!);
      const early = await k.post(author!); // 2 followers: fanned out
      await k.follow(f3!, author!); // 3: big from now on
      for (let i = 0; i < 10; i++) await k.post(author!); // as many as the cap, not fanned out
      await k.drain();
      assert.deepEqual(await k.timeline(f1!), [early]);
      await k.unfollow(f1!, author!);
      await k.drain();
      assert.deepEqual(await k.timeline(f1!), []);
    });
  },
);

const viaProxy = { skip: !redisUrl() && 'needs REDIS_URL (a real Redis to cut)', timeout: 60_000 };
describe('with Redis unreachable', viaProxy, () => {
  const proxy = new TcpProxy(redisUrl() ?? 'redis://127.0.0.1');
  const k = {} as Kith;
  let REDIS_URL = '';
  before(async () => {
    REDIS_URL = await proxy.start(redisUrl()!);
    Object.assign(k, await kith('cut', { REDIS_URL }, { worker: false }));
  });
  afterEach(() => proxy.restore()); // a failed test must not leave the next one cut off
  after(() => proxy.close());
  /** Cuts Redis off (or restores it) and waits until the client noticed. */
  async function redisDown(down: boolean, ctx = k.ctx) {
    if (down) proxy.cut();
    else proxy.restore();
    // Used again once the breaker's probe has seen it answer.
    const noticed = () => ctx.redisBreaker!.up !== down;
    await waitFor(noticed, down ? 'the client noticed the cut' : 'redis reconnected');
  }

  it('serves the same feed from SQL, own writes included, and the timeline again once back', async () => {
    const client = k.ctx.redis!;
    await waitFor(() => client.status === 'ready', 'redis connected through the proxy');
    const [v, a] = await k.users(2);
    await k.follow(v!, a!);
    const posted = [await k.post(a!), await k.post(v!), await k.post(a!)];
    const reads = (source: string) => k.sample('kith_feed_reads_total', { source });
    const [timeline0, sql0] = [await reads('timeline'), await reads('sql')];
    const first = await k.feed(v!);
    assert.deepEqual(ids(first.items), newestFirst(...posted));
    assert.deepEqual([await reads('timeline'), await reads('sql')], [timeline0 + 1, sql0]);

    await redisDown(true);
    assert.deepEqual(await k.feed(v!), first, 'same items');
    assert.equal(await reads('sql'), sql0 + 1);
    const mine = await k.post(v!);
    assert.deepEqual(await k.read(v!), [mine, ...ids(first.items)]);
    assert.deepEqual([await reads('timeline'), await reads('sql')], [timeline0 + 1, sql0 + 2]);

    await redisDown(false);
    assert.deepEqual(await k.read(v!), [mine, ...ids(first.items)]);
    assert.deepEqual([await reads('timeline'), await reads('sql')], [timeline0 + 2, sql0 + 2]);
  });

  it('a fan-out dead-lettered while Redis was away: the post is merged from SQL meanwhile, and in the timeline once replayed', async (t) => {
    const retryFast = { CONSUMER_MAX_ATTEMPTS: '2', CONSUMER_RETRY_DELAYS_MS: '20' };
    const w = await kith('cut-worker', { REDIS_URL, ...retryFast });
    t.after(() => w.stop());
    await waitFor(() => w.ctx.redis!.status === 'ready', 'redis connected through the proxy');
    const [v, a] = await w.users(2);
    await w.follow(v!, a!);
    const older = await w.post(a!);
    await w.drain();
    assert.deepEqual(await w.read(v!), [older]); // v's timeline holds it
    await redisDown(true, w.ctx);
    const missed = await w.post(a!);
    await w.drain();
    const dead = { group: 'feed', outcome: 'dead_lettered' };
    assert.equal(await w.sample('kith_consumer_events_total', dead), 1, 'fan-out gave up');
    await redisDown(false, w.ctx);
    // The timeline lacks it until then, but its fan-out never completed (fanout_pending): the
    // read merges it from SQL, so the feed is never served as if complete without it.
    assert.deepEqual(await w.timeline(v!), [older]);
    assert.deepEqual(await w.read(v!), [missed, older]);
    assert.equal(await w.ctx.bus.replayDeadLetters('feed'), 1);
    await waitFor(async () => (await w.timeline(v!)).length === 2, 'the replayed fan-out');
    assert.deepEqual(await w.timeline(v!), [missed, older]);
    assert.deepEqual(await w.read(v!), [missed, older]);
  });
});
