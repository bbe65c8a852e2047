/**
 * Fan-out handles many events at once (FEED_FANOUT_CONCURRENCY) and every event may arrive more
 * than once: posts written concurrently, then every feed event published again, twice, at
 * once (redelivery and concurrent delivery of the same event), including the creation of a post
 * deleted meanwhile. The timelines must end exactly as the SQL definition says, and every
 * post's fan-out marked complete. On Postgres + RabbitMQ when set, with a worker in process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { createAccount, type Account } from '../../../test/support/factories.ts';
import { drain } from '../../../test/support/drain.ts';
import { waitFor } from '../../../test/support/wait.ts';
import type { DomainEvent } from '../../infra/bus/bus.ts';
import { homeTimeline } from './feed.service.ts';

const handled = async (ctx: { metrics: { consumerEvents: { get(): Promise<unknown> } } }) => {
  const { values } = (await ctx.metrics.consumerEvents.get()) as {
    values: { labels: { group?: string; outcome?: string }; value: number }[];
  };
  return values
    .filter((v) => v.labels.group === 'feed' && v.labels.outcome === 'handled')
    .reduce((sum, v) => sum + v.value, 0);
};

describe('fan-out under concurrent and repeated delivery', () => {
  it('leaves every timeline exactly right and every fan-out complete', async (t) => {
    const { app, ctx, worker } = await createTestAppWithWorker('redelivery', {
      // Small batches: each post is several batches, so batches of different posts interleave.
      env: { FEED_FANOUT_BATCH: '2', FEED_FANOUT_CONCURRENCY: '8' },
    });
    t.after(() => worker.stop());
    const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, who: Account) => {
      const res = await app.inject({
        method,
        url: `/api/v1${url}`,
        headers: who.auth,
        ...(method === 'POST' && url === '/posts' && { payload: { text: 'hi' } }),
      });
      assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
      return res.body ? res.json<{ id?: string }>() : {};
    };
    const authors = await Promise.all([createAccount(app), createAccount(app)]);
    const followers = await Promise.all(Array.from({ length: 7 }, () => createAccount(app)));
    // Five follow both authors, two only the first; all read their feed (so they have a timeline).
    for (const [i, f] of followers.entries()) {
      await call('POST', `/users/${authors[0].username}/follow`, f);
      if (i < 5) await call('POST', `/users/${authors[1].username}/follow`, f);
    }
    await drain(ctx);
    for (const f of followers) await call('GET', '/feed', f);

    // Twelve posts at once from both authors; one of them deleted at once.
    const posts = await Promise.all(
      Array.from({ length: 12 }, (_, i) => call('POST', '/posts', authors[i % 2]!)),
    );
    const gone = posts[3]!.id!;
    await call('DELETE', `/posts/${gone}`, authors[1]);
    await drain(ctx);

    // Every post event again, twice, at once: as a broker redelivers after a lost ack.
    const { db } = ctx.database;
    const rows = await db
      .selectFrom('outbox')
      .select(['id', 'type', 'data', 'created_at'])
      .where('type', 'in', ['post.created', 'post.deleted'])
      .execute();
    const events: DomainEvent[] = rows.map((r) => ({
      id: r.id,
      type: r.type,
      data: r.data,
      occurred_at: r.created_at.toISOString(),
    }));
    assert.equal(events.length, 13);
    const before = await handled(ctx);
    await Promise.all([ctx.bus.publish(events), ctx.bus.publish([...events].reverse())]);
    await waitFor(async () => (await handled(ctx)) >= before + 26, 'redeliveries handled');

    for (const f of followers) {
      const timeline = await ctx.timelines.range(homeTimeline(f.id), { limit: 100 });
      const followed = await db
        .selectFrom('follows')
        .select('followee_id')
        .where('follower_id', '=', f.id)
        .execute();
      const expected = await db
        .selectFrom('posts')
        .select('id')
        .where(
          'author_id',
          'in',
          followed.map((x) => x.followee_id),
        )
        .orderBy('id', 'desc')
        .execute();
      assert.deepEqual(
        (timeline ?? assert.fail('timeline dropped')).map((e) => e.id),
        expected.map((p) => p.id),
        `timeline of follower ${followers.indexOf(f)}`,
      );
      assert.ok(!expected.some((p) => p.id === gone));
    }
    const pending = await db
      .selectFrom('posts')
      .select('id')
      .where('fanout_pending', '=', true)
      .execute();
    assert.deepEqual(pending, [], 'every fan-out marked complete');
    const metrics = await ctx.metrics.registry.getSingleMetricAsString(
      'kith_feed_fanout_pending_posts',
    );
    assert.match(metrics, /^kith_feed_fanout_pending_posts 0$/m);
    const dead = await ctx.bus.deadLetters('feed');
    assert.deepEqual(dead, [], 'nothing dead-lettered');
  });
});
