/**
 * Caching where it pays (issue 4): the home feed hydrates post contents (`post:<id>`), authors
 * (`user-id:<id>`) and the viewer's relations (`relations:<id>`) through the Cache port; counters
 * and `liked` come from SQL on every page. Every write invalidates what it changes, so the feed
 * read right after it is already right; a Redis outage degrades to the database, never to a 500.
 */
import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';
import type { Env } from '../../src/config.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { drain } from '../support/drain.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { createTestApp, type TestApp } from '../support/harness.ts';
import { redisUrl, testPrefix, testRedis } from '../support/services.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';

const API = '/api/v1';
const REDIS = redisUrl();
const redis = REDIS ? await testRedis() : undefined; // removes the keys under testPrefix after the file

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Item = {
  id: string;
  text: string;
  visibility: string;
  author: { id: string; username: string; display_name: string };
  like_count: number;
  comment_count: number;
  liked: boolean;
};

/** Sum of the samples of `name` whose labels include `labels` (0 when there is none). */
function sample(body: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [, metric, raw = '', value] of body.matchAll(/^(\w+)(?:\{(.*)\})? (\S+)$/gm)) {
    const have = Object.fromEntries([...raw.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (metric === name && Object.entries(labels).every(([k, v]) => have[k] === v))
      total += Number(value);
  }
  return total;
}

/** HTTP helpers over one app. */
function client({ app }: TestApp) {
  const call = async <T = void>(
    m: Method,
    url: string,
    who?: Account,
    payload?: object,
    status = 200,
  ): Promise<T> => {
    const res = await app.inject({
      method: m,
      url: `${API}${url}`,
      headers: who?.auth ?? {},
      ...(payload ? { payload } : {}),
    });
    assert.equal(res.statusCode, status, `${m} ${url}: ${res.body}`);
    return (res.statusCode === 204 ? undefined : res.json()) as T;
  };
  const feed = async (who: Account): Promise<Item[]> =>
    (await call<{ items: Item[] }>('GET', '/feed?limit=50', who)).items;
  const feedIds = async (who: Account) => (await feed(who)).map((p) => p.id);
  const post = async (who: Account, text: string, visibility = 'public'): Promise<string> =>
    (await call<{ id: string }>('POST', '/posts', who, { text, visibility }, 201)).id;
  const edge = (m: 'POST' | 'DELETE', who: Account, e: string, of: Account) =>
    call(m, `/users/${of.username}/${e}`, who);
  const befriend = async (a: Account, b: Account) => {
    const url = `/users/${b.username}/friend-request`;
    const { id } = await call<{ id: string }>('POST', url, a, undefined, 201);
    await call('POST', `/friend-requests/${id}/accept`, b);
  };
  const cacheRequests = async (result: 'hit' | 'miss' | 'error') =>
    sample((await app.inject('/metrics')).body, 'kith_cache_requests_total', { result });
  return { call, feed, feedIds, post, edge, befriend, cacheRequests };
}

/** `n` (2 or 3) new accounts; typed as three so that destructuring needs no checks. */
const accounts = async (app: TestApp['app'], n: 2 | 3) =>
  (await Promise.all(Array.from({ length: n }, () => createAccount(app)))) as [
    Account,
    Account,
    Account,
  ];

const stacks: [string, Env][] = [['memory cache', {}]];
if (REDIS) stacks.push(['redis cache', { REDIS_URL: REDIS, REDIS_PREFIX: `${testPrefix}:hc:` }]);

for (const [stack, env] of stacks) {
  describe(`feed hydration through the cache: ${stack}`, () => {
    let t: TestApp;
    let c: ReturnType<typeof client>;
    const users = (n: 2 | 3) => accounts(t.app, n);
    const cached = (key: string) => t.ctx.cache.get<Record<string, unknown>>(key);
    before(async () => {
      t = await createTestApp({ env: { OUTBOX_POLL_MS: '10', ...env } });
      c = client(t);
    });

    it('a first read fills post, author and relations entries; a second is served from them', async () => {
      const [viewer, author] = await users(2);
      await c.edge('POST', viewer, 'follow', author);
      const [p1, p2] = [await c.post(author, 'one'), await c.post(author, 'two')];
      const [hits0, misses0] = [await c.cacheRequests('hit'), await c.cacheRequests('miss')];
      assert.deepEqual(await c.feedIds(viewer), [p2, p1]);
      const [hits1, misses1] = [await c.cacheRequests('hit'), await c.cacheRequests('miss')];
      // Posts and their counters are cached when written (4 hits); the viewer's relations and
      // likes, and the author, are read once (3 misses).
      assert.deepEqual([hits1 - hits0, misses1 - misses0], [4, 3], 'first read: 3 misses');
      assert.deepEqual(await c.feedIds(viewer), [p2, p1]);
      const [hits2, misses2] = [await c.cacheRequests('hit'), await c.cacheRequests('miss')];
      assert.deepEqual([hits2 - hits1, misses2 - misses1], [7, 0], 'second read: all hits');

      const content = await cached(`post:${p1}`);
      assert.deepEqual(content, {
        id: p1,
        author_id: author.id,
        text: 'one',
        visibility: 'public',
        created_at: content?.created_at,
        edited_at: null,
        fan_out: true,
        media: [],
      });
      assert.ok(!Number.isNaN(Date.parse(String(content?.created_at))), 'created_at stored');
      assert.deepEqual(await cached(`relations:${viewer.id}`), {
        following: [author.id],
        friends: [],
        blocked: [],
        muted: [],
        big: [],
      });
      assert.deepEqual(await cached(`user-id:${author.id}`), {
        id: author.id,
        username: author.username,
        display_name: author.username,
      });
      if (env.REDIS_URL) {
        const ttl = (key: string) => redis!.ttl(`${env.REDIS_PREFIX}cache:${key}`);
        const ttls = [`post:${p1}`, `relations:${viewer.id}`, `user-id:${author.id}`];
        const got = await Promise.all(ttls.map(ttl));
        for (const [i, max] of [300, 60, 600].entries())
          assert.ok(got[i]! > max - 10 && got[i]! <= max, `${ttls[i]} ttl ${got[i]} in Redis`);
      }

      // What the feed shows really comes from the entry: change it behind the app's back.
      await t.ctx.cache.set(`post:${p2}`, { ...(await cached(`post:${p2}`)), text: 'cached' }, 60);
      assert.deepEqual(
        (await c.feed(viewer)).map((p) => p.text),
        ['cached', 'one'],
      );
      await t.ctx.cache.delete(`post:${p2}`);
      assert.equal((await c.feed(viewer))[0]!.text, 'two');
    });

    it('an edit of the text shows at once', async () => {
      const [viewer, author] = await users(2);
      await c.edge('POST', viewer, 'follow', author);
      const id = await c.post(author, 'first draft');
      assert.equal((await c.feed(viewer))[0]!.text, 'first draft');
      assert.ok(await cached(`post:${id}`));
      await c.call('PATCH', `/posts/${id}`, author, { text: 'second draft' });
      assert.equal(await cached(`post:${id}`), undefined, 'invalidated by the edit');
      assert.deepEqual(
        (await c.feed(viewer)).map((p) => [p.id, p.text]),
        [[id, 'second draft']],
      );
      assert.equal((await c.feed(author))[0]!.text, 'second draft');
    });

    it('narrowing visibility to friends hides the post from a follower who is no friend', async () => {
      const [author, follower, friend] = await users(3);
      await c.edge('POST', follower, 'follow', author);
      await c.befriend(friend, author);
      const id = await c.post(author, 'for everyone, then for friends');
      assert.deepEqual(await c.feedIds(follower), [id]);
      assert.deepEqual(await c.feedIds(friend), [id]);
      await c.call('PATCH', `/posts/${id}`, author, { visibility: 'friends' });
      assert.deepEqual(await c.feedIds(follower), []);
      assert.deepEqual(
        (await c.feed(friend)).map((p) => [p.id, p.visibility]),
        [[id, 'friends']],
      );
    });

    it('a deleted post is gone at once, for its author and their followers', async () => {
      const [viewer, author] = await users(2);
      await c.edge('POST', viewer, 'follow', author);
      const [kept, gone] = [await c.post(author, 'kept'), await c.post(author, 'gone')];
      assert.deepEqual(await c.feedIds(viewer), [gone, kept]);
      assert.deepEqual(await c.feedIds(author), [gone, kept]);
      await c.call('DELETE', `/posts/${gone}`, author, undefined, 204);
      assert.deepEqual(await cached(`post:${gone}`), { gone: true }, 'marked by the delete');
      assert.deepEqual(await c.feedIds(viewer), [kept]);
      assert.deepEqual(await c.feedIds(author), [kept]);
    });

    it("a new display name shows at once on the author's posts", async () => {
      const [viewer, author] = await users(2);
      await c.edge('POST', viewer, 'follow', author);
      await c.post(author, 'hello');
      assert.equal((await c.feed(viewer))[0]!.author.display_name, author.username);
      await c.call('PATCH', '/me', author, { display_name: 'Renamed Author' });
      assert.equal(await cached(`user-id:${author.id}`), undefined, 'invalidated by the change');
      for (const who of [viewer, author])
        assert.deepEqual((await c.feed(who))[0]!.author, {
          id: author.id,
          username: author.username,
          display_name: 'Renamed Author',
        });
    });

    it("follow shows the followee's posts at once, unfollow hides them", async () => {
      const [viewer, author] = await users(2);
      const id = await c.post(author, 'followers only', 'followers');
      assert.deepEqual(await c.feedIds(viewer), [], 'relations cached, timeline built (empty)');
      await c.edge('POST', viewer, 'follow', author);
      assert.deepEqual(await c.feedIds(viewer), [id]);
      await c.edge('DELETE', viewer, 'follow', author);
      assert.deepEqual(await c.feedIds(viewer), []);
    });

    it('a block hides each side from the other at once', async () => {
      const [a, b] = await users(2);
      await c.edge('POST', a, 'follow', b);
      await c.edge('POST', b, 'follow', a);
      const [pa, pb] = [await c.post(a, 'by a'), await c.post(b, 'by b')];
      assert.deepEqual(await c.feedIds(a), [pb, pa]);
      assert.deepEqual(await c.feedIds(b), [pb, pa]);
      await c.edge('POST', a, 'block', b);
      assert.deepEqual(await c.feedIds(a), [pa]);
      assert.deepEqual(await c.feedIds(b), [pb]);
    });

    it('mute hides an author at once, unmute shows them again', async () => {
      const [viewer, author] = await users(2);
      await c.edge('POST', viewer, 'follow', author);
      const id = await c.post(author, 'loud');
      assert.deepEqual(await c.feedIds(viewer), [id]);
      await c.edge('POST', viewer, 'mute', author);
      assert.deepEqual(await c.feedIds(viewer), []);
      await c.edge('DELETE', viewer, 'mute', author);
      assert.deepEqual(await c.feedIds(viewer), [id]);
    });

    it('accepting a friend request shows friends-only posts at once; unfriending hides them', async () => {
      const [viewer, author] = await users(2);
      await c.edge('POST', viewer, 'follow', author);
      const [pub, close] = [await c.post(author, 'all'), await c.post(author, 'close', 'friends')];
      assert.deepEqual(await c.feedIds(viewer), [pub]);
      await c.befriend(viewer, author);
      assert.deepEqual(await c.feedIds(viewer), [close, pub]);
      await c.call('DELETE', `/friends/${author.username}`, viewer, undefined, 204);
      assert.deepEqual(await c.feedIds(viewer), [], 'unfriending also ends the follows');
    });

    it('every graph change forgets the cached relations of both users', async () => {
      const [a, b] = await users(2);
      const warm = async () => {
        await c.feed(a);
        await c.feed(b);
        assert.ok((await cached(`relations:${a.id}`)) && (await cached(`relations:${b.id}`)));
      };
      const changes: [string, () => Promise<unknown>, Account[]][] = [
        ['follow', () => c.edge('POST', a, 'follow', b), [a, b]],
        ['unfollow', () => c.edge('DELETE', a, 'follow', b), [a, b]],
        ['mute', () => c.edge('POST', a, 'mute', b), [a]],
        ['unmute', () => c.edge('DELETE', a, 'mute', b), [a]],
        ['friend accept', () => c.befriend(a, b), [a, b]],
        ['unfriend', () => c.call('DELETE', `/friends/${a.username}`, b, undefined, 204), [a, b]],
        ['block', () => c.edge('POST', b, 'block', a), [a, b]],
        ['unblock', () => c.edge('DELETE', b, 'block', a), [a, b]],
      ];
      for (const [name, change, forgotten] of changes) {
        await warm();
        await change();
        for (const u of forgotten)
          assert.equal(await cached(`relations:${u.id}`), undefined, `${name}: ${u.username}`);
      }
    });

    it('likes and comments show exact counters at once (never cached)', async () => {
      const [viewer, author, other] = await users(3);
      await c.edge('POST', viewer, 'follow', author);
      const id = await c.post(author, 'like me');
      const counters = async (who: Account) => {
        const p = (await c.feed(who)).find((i) => i.id === id)!;
        return [p.like_count, p.comment_count, p.liked];
      };
      assert.deepEqual(await counters(viewer), [0, 0, false]);
      await c.call('POST', `/posts/${id}/like`, viewer);
      assert.deepEqual(await counters(viewer), [1, 0, true]);
      assert.deepEqual(await counters(author), [1, 0, false]);
      await c.call('POST', `/posts/${id}/like`, other);
      await c.call('POST', `/posts/${id}/comments`, other, { text: 'nice' }, 201);
      assert.deepEqual(await counters(viewer), [2, 1, true]);
      await c.call('DELETE', `/posts/${id}/like`, viewer);
      assert.deepEqual(await counters(viewer), [1, 1, false]);
    });

    it('a post deleted behind the cache (straight in SQL) is gone once its entries are', async () => {
      const [viewer, author] = await users(2);
      await c.edge('POST', viewer, 'follow', author);
      const [kept, gone] = [await c.post(author, 'kept'), await c.post(author, 'gone')];
      assert.deepEqual(await c.feedIds(viewer), [gone, kept]);
      await t.ctx.database.db.deleteFrom('posts').where('id', '=', gone).execute();
      // Neither the caches nor the timeline know: reads trust them until their entries go
      // (a deletion through kith marks them at once; TTLs bound what a lost mark leaves).
      assert.equal((await cached(`post:${gone}`))?.text, 'gone');
      await t.ctx.cache.delete(`post:${gone}`, `counts:${gone}`);
      assert.deepEqual(await c.feedIds(viewer), [kept]);
      assert.deepEqual(await c.feedIds(author), [kept]);
    });

    it('an edit committed while a reader fills the cache is not undone by that fill', async (tc) => {
      const [author, follower] = await users(2);
      await c.edge('POST', follower, 'follow', author);
      const id = await c.post(author, 'public, then for friends only');
      // The follower's read misses post:<id> and reads the row; the author's edit commits and
      // invalidates before the reader stores what it read.
      await t.ctx.cache.delete(`post:${id}`);
      const set = t.ctx.cache.set.bind(t.ctx.cache);
      let edited = false;
      const fill = tc.mock.method(t.ctx.cache, 'set', async (...args: Parameters<typeof set>) => {
        if (args[0] === `post:${id}` && !edited) {
          edited = true;
          await c.call('PATCH', `/posts/${id}`, author, { visibility: 'friends' });
        }
        return set(...args);
      });
      await c.feedIds(follower); // began before the edit: either answer is right
      fill.mock.restore();
      assert.ok(edited, 'the edit ran between the read and the fill');
      assert.equal((await c.call<Item>('GET', `/posts/${id}`, author)).visibility, 'friends');
      assert.deepEqual(await c.feedIds(follower), [], 'the next read sees the edit');
    });

    it("with the worker running, a followed user's posts join a non-empty timeline", async (tc) => {
      const w = await createTestApp({
        env: {
          OUTBOX_POLL_MS: '10',
          ...env,
          ...(env.REDIS_URL && { REDIS_PREFIX: `${testPrefix}:hw:` }),
        },
      });
      const worker = await startWorker(w.ctx);
      tc.after(() => worker.stop());
      const wc = client(w);
      const [viewer, old, fresh] = await accounts(w.app, 3);
      await wc.edge('POST', viewer, 'follow', old);
      const early = await wc.post(old, 'early');
      await drain(w.ctx);
      assert.deepEqual(await wc.feedIds(viewer), [early]);
      const late = await wc.post(fresh, 'late');
      await wc.edge('POST', viewer, 'follow', fresh);
      await drain(w.ctx);
      assert.deepEqual(await wc.feedIds(viewer), [late, early]);
      await wc.edge('POST', viewer, 'mute', fresh);
      assert.deepEqual(await wc.feedIds(viewer), [early], 'mute needs no worker');
    });
  });
}

const fields = (p: Item) => {
  const { id, text, author, like_count, liked } = p;
  return { id, text, author, like_count, liked };
};

/** An app whose Redis (cache and timelines) runs through a proxy the test can cut. */
async function behindProxy(tc: TestContext, name: string) {
  const proxy = new TcpProxy(REDIS!);
  const REDIS_URL = await proxy.start(REDIS!);
  tc.after(() => proxy.close());
  const env = { REDIS_URL, REDIS_PREFIX: `${testPrefix}:${name}:`, OUTBOX_POLL_MS: '10' };
  const t = await createTestApp({ env, captureLogs: true });
  const status = () => t.ctx.redis!.status;
  await waitFor(() => status() === 'ready', 'redis connected through the proxy');
  const cut = async () => {
    proxy.cut();
    await waitFor(() => status() !== 'ready', 'the client noticed the cut');
  };
  const restore = async () => {
    proxy.restore();
    // Used again once the breaker's probe has seen it answer.
    await waitFor(() => t.ctx.redisBreaker!.up, 'redis answering again after the cut');
  };
  return { t, c: client(t), cut, restore };
}

describe('a Redis outage degrades to the database', { skip: !REDIS && 'set REDIS_URL' }, () => {
  it('feed, post and profiles answer 200 from SQL; errors counted and logged; hits resume', async (tc) => {
    const { t, c, cut, restore } = await behindProxy(tc, 'cut');
    const [viewer, author] = await accounts(t.app, 2);
    await c.call('PATCH', '/me', author, { display_name: 'The Author' });
    await c.edge('POST', viewer, 'follow', author);
    const id = await c.post(author, 'still here');
    await c.call('POST', `/posts/${id}/like`, viewer);
    const author_ = { id: author.id, username: author.username, display_name: 'The Author' };
    const expected = { id, text: 'still here', author: author_, like_count: 1, liked: true };
    assert.deepEqual((await c.feed(viewer)).map(fields), [expected], 'warm before the cut');

    await cut();
    const errors = await c.cacheRequests('error');
    assert.deepEqual((await c.feed(viewer)).map(fields), [expected]);
    // relations, the post's content and its author: each a failed look-up, served from SQL
    assert.equal((await c.cacheRequests('error')) - errors, 3);
    assert.deepEqual(fields(await c.call<Item>('GET', `/posts/${id}`, viewer)), expected);
    const profile = await c.call<Record<string, unknown>>('GET', `/users/${author.username}`);
    assert.deepEqual(
      [profile.username, profile.display_name, profile.post_count],
      [author.username, 'The Author', 1],
    );
    const byAuthor = await c.call<{ items: Item[] }>(
      'GET',
      `/users/${author.username}/posts`,
      viewer,
    );
    assert.deepEqual(byAuthor.items.map(fields), [expected]);
    assert.equal((await c.cacheRequests('error')) - errors, 4, 'the username look-up too');
    const warnings = t.logs
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.msg === 'cache unavailable; serving from the database');
    assert.equal(warnings.length, 1, 'warned once (rate-limited)');
    assert.equal(warnings[0]!.level, 40, 'at warn level');

    await restore();
    await c.feed(viewer); // refills what the outage could not store
    const [hits, errorsAfter] = [await c.cacheRequests('hit'), await c.cacheRequests('error')];
    assert.deepEqual((await c.feed(viewer)).map(fields), [expected]);
    assert.equal(
      (await c.cacheRequests('hit')) - hits,
      5,
      'relations, post, counters, likes and author hit again',
    );
    assert.equal(await c.cacheRequests('error'), errorsAfter, 'no more errors');
  });

  it('writes made while Redis was cut show once it returns', async (tc) => {
    const { t, c, cut, restore } = await behindProxy(tc, 'lost');
    const [author, reader, blocked] = await accounts(t.app, 3);
    for (const who of [reader, blocked]) await c.edge('POST', who, 'follow', author);
    const id = await c.post(author, 'before');
    for (const who of [reader, blocked]) assert.deepEqual(await c.feedIds(who), [id]);

    await cut();
    await c.call('PATCH', `/posts/${id}`, author, { text: 'after' });
    await c.call('PATCH', '/me', author, { display_name: 'Renamed' });
    await c.edge('POST', author, 'block', blocked);
    await restore();
    const [shown] = await c.feed(reader);
    assert.deepEqual([shown?.text, shown?.author.display_name], ['after', 'Renamed']);
    assert.deepEqual(await c.feedIds(blocked), [], 'the block is honoured');
  });
});
