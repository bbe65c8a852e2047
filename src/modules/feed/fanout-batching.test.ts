/**
 * The fan-out batches: a post reaches N followers' timelines in ⌈N / FEED_FANOUT_BATCH⌉ calls
 * to the timeline store, and a deletion takes it out the same way. Counted twice: at the port
 * (a counting wrapper around the context's store) and, on Redis, at the client (the commands
 * this process sent on timeline keys). Per-follower calls would fail both counts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Redis } from 'ioredis';
import { createTestApp } from '../../../test/support/harness.ts';
import { createAccount } from '../../../test/support/factories.ts';
import { redisUrl, testPrefix, testRedis } from '../../../test/support/services.ts';
import { newId } from '../../ids.ts';
import type { TimelineStore } from '../../infra/timeline/timeline.ts';
import { feedConsumer } from './fanout.consumer.ts';
import { FeedRepository } from './feed.repository.ts';
import { homeTimeline } from './feed.service.ts';

const FOLLOWERS = 2_500;
const BATCH = 1_000;
const CAP = 50;
if (redisUrl()) await testRedis(); // removes this file's Redis keys afterwards

/**
 * `f` of every item, a slice at a time: thousands of calls at once would queue past the Redis
 * client's command timeout on a busy machine.
 */
async function inSlices<T, R>(items: readonly T[], f: (item: T, i: number) => Promise<R>) {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += 200) {
    out.push(...(await Promise.all(items.slice(i, i + 200).map((x, j) => f(x, i + j)))));
  }
  return out;
}

/** The store, with every call of every method counted by name. */
function counting(store: TimelineStore) {
  const calls = new Map<string, number>();
  const counted = new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.set(String(prop), (calls.get(String(prop)) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: counted, calls: (name: string) => calls.get(name) ?? 0 };
}

/**
 * Counts the commands `client` sends to Redis that name a key under `keyPrefix` (each command
 * of a pipeline counts; commands run inside a script are the script's one command).
 */
function redisCommands(client: Redis, keyPrefix: string) {
  const send = client.sendCommand.bind(client);
  let count = 0;
  client.sendCommand = (command, ...rest) => {
    if (command.args.some((a) => typeof a === 'string' && a.startsWith(keyPrefix))) count++;
    return send(command, ...rest);
  };
  return {
    count: () => count,
    reset: () => void (count = 0),
    restore: () => void (client.sendCommand = send),
  };
}

describe('the fan-out batches', () => {
  it(`reaches ${FOLLOWERS} followers in ⌈N / batch⌉ store calls, and a deletion likewise`, async () => {
    const redis = redisUrl();
    const prefix = `${testPrefix}:batching:`;
    const { app, ctx } = await createTestApp({
      env: redis ? { REDIS_URL: redis, REDIS_PREFIX: prefix } : {},
    });
    const { db } = ctx.database;
    const author = await createAccount(app);
    // Followers straight into SQL: thousands of accounts through the API would take minutes.
    const followers = Array.from({ length: FOLLOWERS }, () => newId());
    await sql`insert into users (id, username, email, password_hash, display_name, dob)
      select id, 'f_' || substr(md5(id::text), 1, 24), id::text || '@example.test', 'x', 'f', '2000-01-01'
      from unnest(${followers}::uuid[]) as id`.execute(db);
    await sql`insert into follows (follower_id, followee_id)
      select id, ${author.id}::uuid from unnest(${followers}::uuid[]) as id`.execute(db);
    // Every follower has a timeline (an active reader), one in five already holding an entry.
    await inSlices(followers, (id, i) =>
      ctx.timelines.replace(homeTimeline(id), i % 5 ? [] : [{ id: newId(), score: 1 }], CAP),
    );
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/posts',
      headers: author.auth,
      payload: { text: 'to everyone' },
    });
    assert.equal(res.statusCode, 201, res.body);
    const postId = res.json<{ id: string }>().id;

    const { store, calls } = counting(ctx.timelines);
    const consumer = feedConsumer(
      new FeedRepository(db),
      store,
      ctx.metrics,
      async () => {},
      {
        cap: CAP,
        batch: BATCH,
        inactiveDays: 30,
        concurrency: 1,
      },
      async () => {},
    );
    // Loads the scripts first, so the wire count below has no NOSCRIPT retries in it.
    await ctx.timelines.pushMany([`warm:${newId()}`], [], { cap: 1, onlyIfExists: true });
    await ctx.timelines.removeMany([`warm:${newId()}`], ['x']);
    const wire = redis ? redisCommands(ctx.redis!, `${prefix}tl:`) : undefined;
    const batches = Math.ceil(FOLLOWERS / BATCH);
    try {
      const event = (type: string, data: Record<string, unknown>) => ({
        id: newId(),
        type,
        data,
        occurred_at: new Date().toISOString(),
      });
      await consumer.handle(event('post.created', { post_id: postId, author_id: author.id }), 1);
      assert.equal(calls('pushMany'), batches, 'one pushMany per batch of followers');
      // Besides: the author's own timeline takes it, and it leaves the pending list.
      assert.equal(calls('push'), 1, 'never one push per follower');
      assert.equal(calls('remove'), 1, 'the pending list, once');
      if (wire) assert.equal(wire.count(), batches + 2, 'Redis commands on timeline keys');
      const held = await inSlices(
        followers,
        async (id) => (await store.range(homeTimeline(id), { limit: 5 }))?.[0]?.id,
      );
      assert.equal(held.filter((id) => id === postId).length, FOLLOWERS, 'every timeline took it');
      const pending = await db
        .selectFrom('posts')
        .select('fanout_pending')
        .where('id', '=', postId)
        .executeTakeFirstOrThrow();
      assert.equal(pending.fanout_pending, false, 'fan-out completed');

      wire?.reset();
      await consumer.handle(
        event('post.deleted', {
          post_id: postId,
          author_id: author.id,
          fan_out: true,
          visibility: 'public',
        }),
        1,
      );
      assert.equal(calls('removeMany'), batches, 'one removeMany per batch of followers');
      // Besides: the author's own timeline, once.
      assert.equal(calls('remove'), 2, 'never one remove per follower');
      if (wire) assert.equal(wire.count(), batches + 1, 'Redis commands on timeline keys');
      const sizes = await inSlices(followers, (id) => store.size(homeTimeline(id)));
      assert.deepEqual(
        sizes,
        followers.map((_, i) => (i % 5 ? 0 : 1)),
        'the post is gone from every timeline, the rest stays',
      );
    } finally {
      wire?.restore();
    }
  });
});
