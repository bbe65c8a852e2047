/**
 * GET /feed through the public API: the endpoint, what the feed holds, and rebuilding a lost
 * timeline. No worker runs here, so nothing is fanned out: the first read of each viewer builds
 * their timeline from SQL, and every later change must show from the read path alone (the
 * timeline still holds the stale ids). Fan-out, caps and outages are in feed-fanout.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Env } from '../../config.ts';
import type { TestApp } from '../../../test/support/harness.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { Account } from '../../../test/support/factories.ts';
import { assertProblem } from '../../../test/support/problems.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../../../test/support/services.ts';
import { api, cursorOf } from '../../../test/support/api.ts';
import { FeedRepository } from './feed.repository.ts';

type Visibility = 'public' | 'followers' | 'friends';
type Post = {
  id: string;
  author: { id: string; username: string; display_name: string };
  text: string;
  visibility: Visibility;
  like_count: number;
  comment_count: number;
  liked: boolean;
  created_at: string;
  edited_at: string | null;
};
type Page = { items: Post[]; next_cursor: string | null };

/** RabbitMQ prefixes used here, with the consumer groups of their app: removed after the file. */
const topologies: [prefix: string, groups: () => string[]][] = [];
if (redisUrl()) await testRedis(); // removes this file's Redis keys afterwards
after(async () => {
  for (const [prefix, groups] of topologies) await deleteAmqpTopology(amqpUrl()!, prefix, groups());
});

/** Env naming this run's Redis and RabbitMQ (when set) under prefixes of their own. */
function services(name: string): Env {
  const [redis, amqp] = [redisUrl(), amqpUrl()];
  if (amqp) topologies.push([`${testPrefix}.${name}`, () => ctx.consumers.map((c) => c.group)]);
  return {
    ...(redis && { REDIS_URL: redis, REDIS_PREFIX: `${testPrefix}:${name}:` }),
    ...(amqp && { AMQP_URL: amqp, AMQP_PREFIX: `${testPrefix}.${name}` }),
  };
}

const ids = (items: { id: string }[]) => items.map((p) => p.id);
/** UUIDv7 ids sort like their creation time. */
const newestFirst = (...list: string[]) => [...list].sort().reverse();

let app: TestApp['app'];
let ctx: TestApp['ctx'];
before(async () => {
  ({ app, ctx } = await createTestApp({ env: { OUTBOX_POLL_MS: '10', ...services('feed') } }));
});

const { call, json, accounts, follow, befriend, post: publish } = api(() => app);
const post = async (who: Account, visibility: Visibility = 'public', text = 'hello') =>
  (await publish(who, { text, visibility })).id;
const feed = (who: Account, query = '') => json<Page>('GET', `/feed${query}`, who);
const timeline = async (who: Account) =>
  ids((await ctx.timelines.range(`home:${who.id}`, { limit: 1000 })) ?? []);
/** The SQL definition of the feed (FeedRepository.feedIds): the reference. */
const reference = (who: Account) =>
  new FeedRepository(ctx.database.db).feedIds(who.id, undefined, 1000);
async function counter(name: string, labels: Record<string, string> = {}) {
  const { values } = await ctx.metrics.registry.getSingleMetric(name)!.get();
  const match = (l: object) => Object.entries(labels).every(([k, v]) => l[k as never] === v);
  return values.filter((v) => match(v.labels)).reduce((sum, v) => sum + v.value, 0);
}

/** The feed (one page of up to 100) is exactly `expected`, and so is the SQL reference. */
async function expectFeed(who: Account, expected: string[], message?: string) {
  assert.deepEqual(ids((await feed(who, '?limit=100')).items), expected, message);
  assert.deepEqual(await reference(who), expected, `${message ?? 'feed'} (SQL reference)`);
}

describe('GET /feed', { timeout: 60_000 }, () => {
  it('needs a signed-in user: 401 unauthorized', async () => {
    const res = await call('GET', '/feed');
    assertProblem(res, 401, 'unauthorized');
  });

  it('refuses a bad cursor (400 invalid_cursor) and a limit outside 1-100', async () => {
    const [v] = await accounts(1);
    const get = (query: string) => call('GET', `/feed?${query}`, v);
    for (const cursor of ['garbage!!', cursorOf({ id: 'not-a-uuid' }), cursorOf({ t: 1 })])
      assertProblem(await get(`cursor=${encodeURIComponent(cursor)}`), 400, 'invalid_cursor');
    for (const limit of [0, 101]) {
      const body = assertProblem(await get(`limit=${limit}`), 400, 'validation_failed');
      assert.ok(
        body.errors?.some((e) => e.path === '/limit'),
        JSON.stringify(body.errors),
      );
    }
  });

  it('an empty feed is an empty page', async () => {
    const [v] = await accounts(1);
    assert.deepEqual(await feed(v), { items: [], next_cursor: null });
  });

  it('gives each post with its author, counters and whether you liked it', async () => {
    const [v, a, c] = await accounts(3);
    await Promise.all([follow(v, a), follow(c, a)]);
    const id = await post(a, 'followers', 'shape check');
    await json('POST', `/posts/${id}/comments`, c, { text: 'nice' }, 201);
    await json('POST', `/posts/${id}/like`, c);
    let [item] = (await feed(v)).items;
    assert.deepEqual(item, {
      id,
      author: { id: a.id, username: a.username, display_name: a.username },
      text: 'shape check',
      visibility: 'followers',
      like_count: 1,
      comment_count: 1,
      liked: false,
      created_at: item!.created_at,
      edited_at: null,
      media: [],
      tags: [],
    });
    assert.ok(Date.now() - Date.parse(item.created_at) < 60_000, item.created_at);
    await json('POST', `/posts/${id}/like`, v);
    [item] = (await feed(v)).items;
    assert.deepEqual([item!.liked, item!.like_count], [true, 2]);
  });

  it('is newest first, and pages through every post once', async () => {
    const [v, a, b] = await accounts(3);
    await Promise.all([follow(v, a), follow(v, b)]);
    const all: string[] = [];
    for (let i = 0; i < 7; i++) all.push(await post([a, b, v][i % 3]!, 'public', `p${i}`));
    const first = await feed(v, '?limit=3');
    assert.deepEqual(ids(first.items), newestFirst(...all).slice(0, 3));
    const times = first.items.map((p) => p.created_at);
    assert.deepEqual(times, [...times].sort().reverse());
    const seen = [...ids(first.items)];
    for (let cursor = first.next_cursor; cursor;) {
      const page = await feed(v, `?limit=3&cursor=${cursor}`);
      seen.push(...ids(page.items));
      cursor = page.next_cursor;
    }
    assert.deepEqual(seen, newestFirst(...all));
  });

  it('shows your own post at once, before any fan-out (no worker runs here)', async () => {
    const [v, a] = await accounts(2);
    await follow(v, a);
    const older = await post(a);
    await expectFeed(v, [older]); // builds the timeline
    const own = await post(v, 'friends', 'mine');
    assert.deepEqual(ids((await feed(v)).items), [own, older]);
    assert.deepEqual(await timeline(v), [older], 'own posts are merged at read time');
  });

  it("shows a followee's post acknowledged before its fan-out ran (merged from SQL until then)", async () => {
    const [v, a] = await accounts(2);
    await follow(v, a);
    const older = await post(a);
    await expectFeed(v, [older]); // builds the timeline, complete
    const fresh = await post(a, 'followers', 'not fanned out yet');
    assert.deepEqual(ids((await feed(v)).items), [fresh, older]);
    assert.deepEqual(await timeline(v), [older], 'the timeline still lacks it');
  });
});

describe('what the feed holds', { timeout: 60_000 }, () => {
  it("followees' and friends' posts they let you see; nobody else's", async () => {
    const [v, followee, friend, stranger, fan] = await accounts(5);
    await follow(v, followee);
    await befriend(v, friend);
    await follow(fan, v); // following you does not put their posts in your feed
    const fPublic = await post(followee, 'public');
    const fFollowers = await post(followee, 'followers');
    const fFriends = await post(followee, 'friends');
    const frFriends = await post(friend, 'friends');
    const frFollowers = await post(friend, 'followers');
    await post(stranger, 'public');
    await post(fan, 'public');
    const own = await post(v, 'friends');
    const visible = [fPublic, fFollowers, frFriends, frFollowers, own];
    await expectFeed(v, newestFirst(...visible));
    await befriend(v, followee);
    await expectFeed(v, newestFirst(...visible, fFriends), 'a friend now: friends-only shows');
  });

  it('hides a muted author until unmuted', async () => {
    const [v, a, b] = await accounts(3);
    await Promise.all([follow(v, a), follow(v, b)]);
    const [pa, pb] = [await post(a), await post(b)];
    await expectFeed(v, [pb, pa]);
    await json('POST', `/users/${a.username}/mute`, v);
    await expectFeed(v, [pb], 'muted');
    await json('DELETE', `/users/${a.username}/mute`, v);
    await expectFeed(v, [pb, pa], 'unmuted');
  });

  it('hides users in a block with you, whoever blocked', async () => {
    const [v, a, b, c] = await accounts(4);
    await Promise.all([follow(v, a), follow(v, b), follow(v, c)]);
    const [pa, pb, pc] = [await post(a), await post(b), await post(c)];
    await expectFeed(v, [pc, pb, pa]);
    await json('POST', `/users/${a.username}/block`, v);
    await json('POST', `/users/${v.username}/block`, b);
    await expectFeed(v, [pc], 'both blocks hide');
    await json('DELETE', `/users/${a.username}/block`, v);
    await expectFeed(v, [pc], 'unblocking does not bring the follow back');
  });

  it('drops an author once unfollowed, and a friend once unfriended', async () => {
    const [v, a, f] = await accounts(3);
    await follow(v, a);
    await befriend(v, f);
    const [pa, pf] = [await post(a), await post(f, 'friends')];
    await expectFeed(v, [pf, pa]);
    await json('DELETE', `/users/${a.username}/follow`, v);
    await expectFeed(v, [pf], 'unfollowed');
    await json('DELETE', `/friends/${f.username}`, v, undefined, 204);
    await expectFeed(v, [], 'unfriended');
    assert.deepEqual(await timeline(v), [pf, pa], 'still in the timeline: hidden on read');
  });

  it('drops a deleted post', async () => {
    const [v, a] = await accounts(2);
    await follow(v, a);
    const [p1, p2, own] = [await post(a), await post(a), await post(v)];
    await expectFeed(v, [own, p2, p1]);
    await json('DELETE', `/posts/${p2}`, a, undefined, 204);
    await json('DELETE', `/posts/${own}`, v, undefined, 204);
    await expectFeed(v, [p1]);
  });

  it('respects a visibility change on the next read, both ways', async () => {
    const [v, a] = await accounts(2);
    await follow(v, a);
    const [open, closed] = [await post(a, 'public'), await post(a, 'friends')];
    await expectFeed(v, [open]);
    await json('PATCH', `/posts/${open}`, a, { visibility: 'friends' });
    await expectFeed(v, [], 'public -> friends hides it');
    await json('PATCH', `/posts/${closed}`, a, { visibility: 'followers' });
    await expectFeed(v, [closed], 'friends -> followers shows it');
    const edited = (await feed(v)).items[0]!;
    assert.equal(edited.visibility, 'followers');
    assert.notEqual(edited.edited_at, null);
  });
});

describe('a lost timeline', { timeout: 60_000 }, () => {
  it('is rebuilt from SQL on the next read, with the same items', async () => {
    const [v, a, b] = await accounts(3);
    await Promise.all([follow(v, a), follow(v, b)]);
    const posts = [await post(a), await post(v), await post(b, 'followers'), await post(a)];
    const key = `home:${v.id}`;
    const rebuilds = await counter('kith_feed_timeline_rebuilds_total');
    const first = await feed(v);
    assert.deepEqual(ids(first.items), newestFirst(...posts));
    assert.equal(await counter('kith_feed_timeline_rebuilds_total'), rebuilds + 1);
    const held = newestFirst(posts[0]!, posts[2]!, posts[3]!); // followees' only
    assert.deepEqual(await timeline(v), held);

    await ctx.timelines.delete(key);
    assert.equal(await ctx.timelines.exists(key), false);
    assert.deepEqual(await feed(v), first);
    assert.equal(await ctx.timelines.exists(key), true);
    assert.deepEqual(await timeline(v), held);
    assert.equal(await counter('kith_feed_timeline_rebuilds_total'), rebuilds + 2);
    assert.deepEqual(await feed(v), first, 'a third read uses the rebuilt timeline');
    assert.equal(await counter('kith_feed_timeline_rebuilds_total'), rebuilds + 2);
  });

  it('rebuilt for a user who follows nobody exists, empty', async () => {
    const [v] = await accounts(1);
    const own = await post(v);
    await expectFeed(v, [own]);
    assert.equal(await ctx.timelines.exists(`home:${v.id}`), true);
    assert.deepEqual(await timeline(v), []);
  });
});
