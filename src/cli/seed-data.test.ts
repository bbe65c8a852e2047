import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generate, type SeedParams } from './seed-data.ts';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const DAY = 86_400_000;
const params = (over: Partial<SeedParams> = {}): SeedParams => ({
  users: 2000,
  postsPerUser: 5,
  seed: 42,
  prefix: '',
  days: 28,
  now: NOW,
  ...over,
});

describe('generate', () => {
  it('is deterministic for a seed, and another seed gives another graph', () => {
    const a = generate(params({ users: 300 }));
    assert.deepEqual(generate(params({ users: 300 })), a);
    const b = generate(params({ users: 300, seed: 43 }));
    assert.notDeepEqual(b.follows, a.follows);
    assert.notDeepEqual(b.users, a.users);
  });

  it('makes valid, unique usernames with the prefix, adults, and times before now', () => {
    const { users, posts } = generate(params({ prefix: 'demo_' }));
    const names = users.map((u) => u.username);
    assert.equal(new Set(names).size, names.length);
    for (const u of users) {
      assert.match(u.username, /^demo_[a-z]+_\d+$/);
      assert.ok(u.username.length <= 30);
      assert.ok(Date.parse(u.dob) < NOW - 13 * 365 * DAY, u.dob);
      assert.ok(u.createdAt < NOW - 28 * DAY);
    }
    for (const p of posts) assert.ok(p.createdAt >= NOW - 28 * DAY && p.createdAt < NOW);
  });

  it('gives followers a power law: a few accounts hold a large share', () => {
    const { counts } = generate(params());
    const followers = [...counts.followers].sort((x, y) => y - x);
    const total = followers.reduce((s, x) => s + x, 0);
    const median = followers[followers.length >> 1]!;
    // 2000 users following ~17 others each: the top account is followed by most of them.
    assert.ok(followers[0]! > 0.5 * 2000, `top: ${followers[0]}`);
    assert.ok(followers[0]! > 50 * median, `top ${followers[0]} vs median ${median}`);
    const topTen = followers.slice(0, 10).reduce((s, x) => s + x, 0);
    // Uniform picks would give the top 10 of 2000 about 1%.
    assert.ok(topTen > 0.1 * total, `top 10 hold ${topTen} of ${total}`);
  });

  it('keeps friendships mutual follows, and likes and comments within the audience', () => {
    const data = generate(params({ users: 500 }));
    const follows = new Set<string>();
    for (let i = 0; i < data.follows.length; i += 3) {
      assert.notEqual(data.follows[i], data.follows[i + 1], 'nobody follows themselves');
      follows.add(`${data.follows[i]}>${data.follows[i + 1]}`);
    }
    assert.equal(follows.size, data.follows.length / 3, 'no duplicate follow');
    const friends = new Set<string>();
    for (let i = 0; i < data.friendships.length; i += 3) {
      const [a, b] = [data.friendships[i]!, data.friendships[i + 1]!];
      assert.ok(a < b);
      assert.ok(follows.has(`${a}>${b}`) && follows.has(`${b}>${a}`));
      friends.add(`${a}>${b}`).add(`${b}>${a}`);
    }
    assert.equal(friends.size, (data.friendships.length / 3) * 2, 'no duplicate friendship');
    const likes = new Set<string>();
    for (let i = 0; i < data.likes.length; i += 3) {
      const post = data.posts[data.likes[i]!]!;
      const user = data.likes[i + 1]!;
      const via = post.visibility === 'friends' ? friends : follows;
      assert.ok(via.has(`${user}>${post.author}`), `${post.visibility} post liked by an outsider`);
      assert.ok(data.likes[i + 2]! >= post.createdAt);
      likes.add(`${data.likes[i]}>${user}`);
    }
    assert.equal(likes.size, data.likes.length / 3, 'one like per user and post');
    for (const c of data.comments) {
      const post = data.posts[c.post]!;
      const via = post.visibility === 'friends' ? friends : follows;
      assert.ok(via.has(`${c.author}>${post.author}`));
      assert.ok(c.createdAt >= post.createdAt && c.createdAt <= NOW);
    }
  });

  it('counts every row it makes', () => {
    const data = generate(params({ users: 400 }));
    const tally = (n: number, pick: (add: (i: number) => void) => void) => {
      const out = new Int32Array(n);
      pick((i) => (out[i]! += 1));
      return out;
    };
    const n = data.users.length;
    const each = (flat: readonly number[], offset: number) => (add: (i: number) => void) => {
      for (let i = offset; i < flat.length; i += 3) add(flat[i]!);
    };
    assert.deepEqual(data.counts.following, tally(n, each(data.follows, 0)));
    assert.deepEqual(data.counts.followers, tally(n, each(data.follows, 1)));
    assert.deepEqual(
      data.counts.friends,
      tally(n, (add) => (each(data.friendships, 0)(add), each(data.friendships, 1)(add))),
    );
    assert.deepEqual(
      data.counts.posts,
      tally(n, (add) => data.posts.forEach((p) => add(p.author))),
    );
    assert.deepEqual(data.counts.likes, tally(data.posts.length, each(data.likes, 0)));
    assert.deepEqual(
      data.counts.comments,
      tally(data.posts.length, (add) => data.comments.forEach((c) => add(c.post))),
    );
    assert.ok(data.posts.length > 0 && data.likes.length > 0 && data.comments.length > 0);
  });

  it('handles the smallest graphs', () => {
    const one = generate(params({ users: 1 }));
    assert.deepEqual([one.users.length, one.follows, one.friendships], [1, [], []]);
    const none = generate(params({ users: 50, postsPerUser: 0 }));
    assert.deepEqual([none.posts, none.likes, none.comments], [[], [], []]);
    const two = generate(params({ users: 2 }));
    assert.ok(two.follows.length / 3 <= 2);
  });
});
