/**
 * What a block hides, both ways, and what counts mean (docs/SECURITY.md, "What a block hides,
 * and what counts mean").
 *
 * A user in a block with the viewer, either way, appears to the viewer nowhere: their profile,
 * posts and graph lists are 404 exactly as for a user who does not exist, and every list of users
 * (followers, following, friends, likers, search) leaves them out, whoever the list belongs to.
 * Every count is what the viewer can list: a post's `like_count` and `comment_count` leave out
 * the likes and comments of users in a block with the viewer, a profile's follower, following and
 * friend counts the users in a block with the viewer, and `post_count` counts the posts the viewer
 * may see.
 *
 * Each scenario runs twice: A blocks X, and X blocks A.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { requester } from '../support/authorization-scope.ts';
import { createTestApp } from '../support/harness.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';
import { redisUrl, testPrefix, testRedis } from '../support/services.ts';
import { waitFor } from '../support/wait.ts';

if (redisUrl()) await testRedis(); // removes this file's keys afterwards
const { app } = await createTestApp({
  env: {
    // PGlite runs on this thread: its queries must not read as overload.
    SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...(redisUrl() && { REDIS_URL: redisUrl()!, REDIS_PREFIX: `${testPrefix}:blocks:` }),
  },
});
const { call, must } = requester(app);

type Body = Record<string, unknown> & { items: { id: string }[]; code?: string };
const get = async (as: Account | null, path: string) => {
  const res = await call(as, 'GET', path);
  return { status: res.statusCode, body: res.json<Body>() };
};
const ids = async (as: Account | null, path: string) => {
  const { status, body } = await get(as, path);
  assert.equal(status, 200, `${path}: ${JSON.stringify(body)}`);
  return body.items.map((i) => i.id);
};
const user = (role: string) => createAccount(app, { username: uniqueUsername(role) });
async function befriend(a: Account, b: Account): Promise<void> {
  const request = (await must(a, 'POST', `/users/${b.username}/friend-request`, 201)).json<Body>();
  await must(b, 'POST', `/friend-requests/${request.id as string}/accept`, 200);
}
const follow = (a: Account, b: Account) => must(a, 'POST', `/users/${b.username}/follow`, 200);
const postBy = async (author: Account, visibility: string) =>
  (await must(author, 'POST', '/posts', 201, { text: `a ${visibility} post`, visibility })).json<{
    id: string;
  }>().id;
const likeAndComment = async (who: Account, postId: string) => {
  await must(who, 'POST', `/posts/${postId}/like`, 200);
  await must(who, 'POST', `/posts/${postId}/comments`, 201, { text: `from ${who.username}` });
};

const LISTS = ['followers', 'following', 'friends'] as const;
const COUNT_OF = {
  followers: 'follower_count',
  following: 'following_count',
  friends: 'friend_count',
};

/** The profile's counts agree with the lists the same viewer gets. */
async function assertProfileAgrees(viewer: Account | null, owner: Account): Promise<void> {
  const { status, body } = await get(viewer, `/users/${owner.username}`);
  assert.equal(status, 200, JSON.stringify(body));
  for (const list of LISTS) {
    const listed = await ids(viewer, `/users/${owner.username}/${list}?limit=100`);
    assert.equal(body[COUNT_OF[list]], listed.length, `${COUNT_OF[list]} of ${owner.username}`);
  }
  const posts = await ids(viewer, `/users/${owner.username}/posts?limit=100`);
  assert.equal(body.post_count, posts.length, `post_count of ${owner.username}`);
}

/** The post's counters agree with its likers and comments as the same viewer lists them. */
async function assertPostAgrees(viewer: Account | null, postId: string) {
  const { status, body } = await get(viewer, `/posts/${postId}`);
  assert.equal(status, 200, JSON.stringify(body));
  const likers = await ids(viewer, `/posts/${postId}/likes?limit=100`);
  const comments = await ids(viewer, `/posts/${postId}/comments?limit=100`);
  assert.equal(body.like_count, likers.length, 'like_count');
  assert.equal(body.comment_count, comments.length, 'comment_count');
  return { like_count: body.like_count, comment_count: body.comment_count };
}

for (const direction of ['A blocks X', 'X blocks A'] as const) {
  describe(`blocks hide everything, both ways: ${direction}`, async () => {
    // A owns a public, a followers and a friends post; F follows A, R is A's friend, anon and
    // "other" are unrelated. T is a third party whom A, X and W all follow, with a public post
    // that A, X and W liked and commented on. X was A's friend and follower, and liked and
    // commented on A's public post, before the block. W follows A and F blocked W.
    const [A, X, F, R, T, W, other] = (await Promise.all(
      ['a', 'x', 'f', 'r', 't', 'w', 'other'].map(user),
    )) as [Account, Account, Account, Account, Account, Account, Account];
    const anon = null;
    const post = {
      public: await postBy(A, 'public'),
      followers: await postBy(A, 'followers'),
      friends: await postBy(A, 'friends'),
    };
    const tPost = await postBy(T, 'public');
    await follow(F, A);
    await befriend(R, A);
    await befriend(X, A);
    await follow(W, A);
    for (const u of [A, X, W]) {
      await follow(u, T);
      await likeAndComment(u, tPost);
    }
    await likeAndComment(X, post.public);
    await likeAndComment(W, post.public);
    await follow(T, X);
    await follow(T, A);
    await must(F, 'POST', `/users/${W.username}/block`, 200);
    const [blocker, blocked] = direction === 'A blocks X' ? [A, X] : [X, A];
    await must(blocker, 'POST', `/users/${blocked.username}/block`, 200);

    it('each side sees the other as not found: profile, posts and lists', async () => {
      const missing = await get(X, `/users/${uniqueUsername('nobody')}`);
      for (const [viewer, owner] of [
        [X, A],
        [A, X],
      ] as const) {
        const profile = await get(viewer, `/users/${owner.username}`);
        assert.equal(profile.status, 404);
        // The same body as for a user who does not exist, but for the name in it.
        const strip = (b: Body) => ({ ...b, detail: null, instance: null, request_id: null });
        assert.deepEqual(strip(profile.body), strip(missing.body));
        assert.equal(profile.body.code, 'user_not_found');
        for (const list of [...LISTS, 'posts']) {
          const res = await get(viewer, `/users/${owner.username}/${list}`);
          assert.equal(res.status, 404, list);
          assert.equal(res.body.code, 'user_not_found', list);
        }
      }
      // Everyone else still sees both.
      for (const viewer of [anon, other, F, R, T]) {
        assert.equal((await get(viewer, `/users/${A.username}`)).status, 200);
        assert.equal((await get(viewer, `/users/${X.username}`)).status, 200);
      }
    });

    it('user search leaves out users in a block with the viewer, both ways', async () => {
      assert.deepEqual(await ids(A, `/users?q=${X.username}`), []);
      assert.deepEqual(await ids(X, `/users?q=${A.username}`), []);
      assert.deepEqual(await ids(other, `/users?q=${X.username}`), [X.id]);
      assert.deepEqual(await ids(anon, `/users?q=${A.username}`), [A.id]);
    });

    it("third parties' lists leave out users in a block with the viewer", async () => {
      const followers = `/users/${T.username}/followers?limit=100`;
      const following = `/users/${T.username}/following?limit=100`;
      assert.deepEqual(new Set(await ids(A, followers)), new Set([A.id, W.id]));
      assert.deepEqual(new Set(await ids(X, followers)), new Set([X.id, W.id]));
      assert.deepEqual(new Set(await ids(anon, followers)), new Set([A.id, X.id, W.id]));
      assert.deepEqual(await ids(A, following), [A.id]);
      assert.deepEqual(await ids(X, following), [X.id]);
      assert.deepEqual(new Set(await ids(other, following)), new Set([A.id, X.id]));
      const likers = `/posts/${tPost}/likes?limit=100`;
      assert.deepEqual(new Set(await ids(A, likers)), new Set([A.id, W.id]));
      assert.deepEqual(new Set(await ids(X, likers)), new Set([X.id, W.id]));
      // F blocked W: W is gone from F's view of A's followers and of T's likers.
      assert.ok(!(await ids(F, `/users/${A.username}/followers?limit=100`)).includes(W.id));
      assert.ok(!(await ids(F, likers)).includes(W.id));
      assert.ok((await ids(other, likers)).includes(W.id));
    });

    it("profile counts agree with the lists, for every viewer of A's and T's profiles", async () => {
      for (const viewer of [anon, other, F, R, W, A]) await assertProfileAgrees(viewer, A);
      for (const viewer of [anon, other, F, R, W, A, X]) await assertProfileAgrees(viewer, T);
      // The numbers themselves: post_count per visibility tier, T's followers per viewer.
      const count = async (viewer: Account | null, owner: Account, field: string) =>
        (await get(viewer, `/users/${owner.username}`)).body[field];
      assert.deepEqual(
        await Promise.all([anon, other, F, R, A].map((v) => count(v, A, 'post_count'))),
        [1, 1, 2, 3, 3],
      );
      assert.equal(await count(anon, T, 'follower_count'), 3);
      assert.equal(await count(A, T, 'follower_count'), 2);
      assert.equal(await count(X, T, 'follower_count'), 2);
      assert.equal(await count(A, T, 'following_count'), 1);
      // F, R, W and T (X's follow was severed by the block); F blocked W.
      assert.equal(await count(anon, A, 'follower_count'), 4);
      assert.equal(await count(F, A, 'follower_count'), 3);
    });

    it('post counters agree with likers and comments, for every viewer', async () => {
      // T's post: liked and commented by A, X and W.
      const seen = async (viewer: Account | null) => assertPostAgrees(viewer, tPost);
      assert.deepEqual(await seen(anon), { like_count: 3, comment_count: 3 });
      assert.deepEqual(await seen(other), { like_count: 3, comment_count: 3 });
      assert.deepEqual(await seen(A), { like_count: 2, comment_count: 2 });
      assert.deepEqual(await seen(X), { like_count: 2, comment_count: 2 });
      assert.deepEqual(await seen(F), { like_count: 2, comment_count: 2 }); // F blocked W
      assert.deepEqual(await seen(T), { like_count: 3, comment_count: 3 });
      // A's public post: X's like and comment from before the block are gone for A only.
      assert.deepEqual(await assertPostAgrees(A, post.public), { like_count: 1, comment_count: 1 });
      assert.deepEqual(await assertPostAgrees(anon, post.public), {
        like_count: 2,
        comment_count: 2,
      });
      for (const viewer of [other, F, R, W]) await assertPostAgrees(viewer, post.public);
    });

    it('the like answer and the feeds count the same way', async () => {
      // Unliking and liking again answers the count A can list.
      await must(A, 'DELETE', `/posts/${tPost}/like`, 200);
      const liked = (await must(A, 'POST', `/posts/${tPost}/like`, 200)).json<Body>();
      assert.equal(liked.like_count, 2);
      // A's home feed (A's own posts are merged in at read time).
      const feed = (await get(A, '/feed?limit=100')).body.items as unknown as Body[];
      const own = feed.find((p) => p.id === post.public);
      assert.ok(own, "A's public post in A's feed");
      assert.equal(own.like_count, 1);
      assert.equal(own.comment_count, 1);
      // T's post in A's timeline (fanned out to A, a follower of T): A's view of its counters.
      const fromT = await waitFor(async () => {
        const items = (await get(A, '/feed?limit=100')).body.items as unknown as Body[];
        return items.find((p) => p.id === tPost);
      }, "T's post in A's feed");
      assert.deepEqual([fromT.like_count, fromT.comment_count], [2, 2]);
      // F's feed (fanned out): W, whom F blocked, liked and commented on A's public post.
      const inF = await waitFor(async () => {
        const items = (await get(F, '/feed?limit=100')).body.items as unknown as Body[];
        return items.find((p) => p.id === post.public);
      }, "A's post in F's feed");
      assert.deepEqual([inF.like_count, inF.comment_count], [1, 1]);
    });
  });
}
