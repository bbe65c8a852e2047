/**
 * How home-feed pages are read (issue 18): with the timeline store and the caches warm, a page
 * of a complete timeline runs no SQL at all (counted at the database port); what changes a page
 * (likes, comments, edits, new posts not yet fanned out) shows in the next read all the same,
 * on this node and on another one sharing the same Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../app/http-app.ts';
import { createContext } from '../../app/context.ts';
import { createLogger } from '../../logger.ts';
import { api, type Page } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker, type TestApp } from '../../../test/support/harness.ts';
import { redisUrl } from '../../../test/support/services.ts';
import { waitFor } from '../../../test/support/wait.ts';
import type { App } from '../../http/types.ts';

const once = <T>(fn: () => Promise<T>) => {
  let done: Promise<T> | undefined;
  return () => (done ??= fn());
};

type Item = { id: string; text: string; like_count: number; comment_count: number; liked: boolean };

// Made at the top: the harness's clean-ups (Redis keys included) are registered as `after`s,
// which inside a `before` would run as soon as that hook ends.
let t = await createTestAppWithWorker('feedreads');
const second = redisUrl() ? await createTestAppWithWorker('feedreads2') : undefined;
const first = t;
const stopFirstWorker = once(() => first.worker.stop());
after(() => Promise.all([stopFirstWorker(), second?.worker.stop()]));
const { json, post, users, follow } = api(() => t.app);

const feed = (who: Account, query = '', on: App = t.app) =>
  api(on).json<Page<Item>>('GET', `/feed${query}`, who);
const ids = (page: Page<Item>) => page.items.map((p) => p.id);

/** The SQL statements GET /feed requests sent so far, and how many such requests ended. */
async function feedStatements(ctx: TestApp['ctx']): Promise<{ sum: number; count: number }> {
  const { values } = await ctx.metrics.httpDbStatements.get();
  const of = (name: string) =>
    values.find((v) => v.metricName === name && v.labels.route === '/api/v1/feed')?.value ?? 0;
  return { sum: of('kith_http_db_statements_sum'), count: of('kith_http_db_statements_count') };
}

/** What the feed reads in `read` (`requests` of them) cost in SQL statements, with its result. */
async function counted<T>(
  ctx: TestApp['ctx'],
  read: () => Promise<T>,
  requests = 1,
): Promise<[T, number]> {
  const start = await feedStatements(ctx);
  const result = await read();
  // Counted once the response is sent: wait for the requests to be counted.
  await waitFor(
    async () => (await feedStatements(ctx)).count >= start.count + requests,
    'feed reads counted',
  );
  return [result, (await feedStatements(ctx)).sum - start.sum];
}

describe('home feed reads from the timeline store and caches', () => {
  let viewer: Account, a: Account, b: Account;
  let posted: string[];
  before(async () => {
    // Until the breaker has seen Redis answer, reads skip it (and fill nothing).
    await waitFor(() => t.ctx.redisBreaker?.up ?? true, 'redis in use');
    ({ viewer, a, b } = await users('viewer', 'a', 'b'));
    await follow(viewer, a);
    await follow(viewer, b);
    posted = [];
    for (const who of [a, b, a, viewer, b]) posted.push((await post(who)).id);
    await drain(t.ctx);
    await feed(viewer); // builds the timeline and fills the caches
    await feed(viewer, '?limit=2');
  });

  it('a page of a complete timeline, and the pages after it, run no SQL', async () => {
    const [first, cost] = await counted(t.ctx, () => feed(viewer));
    assert.deepEqual(ids(first), [...posted].reverse());
    assert.equal(cost, 0, 'statements sent for a warm home page');
    const [page1, cost1] = await counted(t.ctx, () => feed(viewer, '?limit=2'));
    const [page2, cost2] = await counted(t.ctx, () =>
      feed(viewer, `?limit=2&cursor=${page1.next_cursor}`),
    );
    assert.deepEqual([...ids(page1), ...ids(page2)], [...posted].reverse().slice(0, 4));
    assert.equal(cost1 + cost2, 0, 'statements sent for the pages');
  });

  it('likes, comments and edits show in the next read, which is SQL-free again after', async () => {
    const target = posted[2]!; // a's second post
    await json('POST', `/posts/${target}/like`, viewer);
    await json('POST', `/posts/${target}/comments`, b, { text: 'nice' }, 201);
    await json('PATCH', `/posts/${target}`, a, { text: 'edited' });
    const item = (await feed(viewer)).items.find((p) => p.id === target);
    assert.deepEqual(
      item && {
        text: item.text,
        likes: item.like_count,
        comments: item.comment_count,
        liked: item.liked,
      },
      { text: 'edited', likes: 1, comments: 1, liked: true },
    );
    const [, cost] = await counted(t.ctx, () => feed(viewer));
    assert.equal(cost, 0);
    await json('DELETE', `/posts/${target}/like`, viewer);
    const after = (await feed(viewer)).items.find((p) => p.id === target);
    assert.deepEqual(after && [after.like_count, after.liked], [0, false]);
  });

  it('a deleted post leaves the next read', async () => {
    const gone = posted[0]!;
    await json('DELETE', `/posts/${gone}`, a, undefined, 204);
    assert.ok(!ids(await feed(viewer)).includes(gone));
  });

  // Last: stops this file's worker.
  it('a new post is in its followers’ and its author’s next read before its fan-out ran', async () => {
    await drain(t.ctx);
    await stopFirstWorker();
    const fresh = (await post(b)).id;
    const own = (await post(viewer)).id;
    const [page, cost] = await counted(t.ctx, () => feed(viewer));
    assert.deepEqual(ids(page).slice(0, 2), [own, fresh]);
    assert.equal(cost, 0, 'the pending posts come from the pending list, not SQL');
  });
});

describe(
  'a second API node sharing the database and Redis',
  { skip: !redisUrl() && 'needs REDIS_URL: one embedded process is one node' },
  () => {
    it('sees a like, a comment and an edit made on the first node in its next read', async () => {
      t = second!;
      // The second node shares the database and Redis (all the caches live there); it needs no
      // broker of its own for this.
      const other = await createContext(
        { ...t.ctx.config, amqpUrl: undefined },
        {
          log: createLogger('silent'),
          migrate: false,
        },
      );
      const node2 = await buildApp(other);
      try {
        const { viewer, a } = await users('viewer', 'a');
        await follow(viewer, a);
        const target = (await post(a)).id;
        await drain(t.ctx);
        const before = (await feed(viewer, '', node2)).items.find((p) => p.id === target);
        assert.deepEqual(before && [before.text, before.like_count, before.liked], [
          'hello',
          0,
          false,
        ]);
        await json('POST', `/posts/${target}/like`, viewer);
        await json('PATCH', `/posts/${target}`, a, { text: 'changed on node 1' });
        const [page, cost] = await counted(other, () => feed(viewer, '', node2));
        const item = page.items.find((p) => p.id === target);
        assert.deepEqual(item && [item.text, item.like_count, item.liked], [
          'changed on node 1',
          1,
          true,
        ]);
        assert.ok(cost > 0, 'the invalidated entries were read again');
      } finally {
        await node2.close();
        await other.close();
      }
    });
  },
);
