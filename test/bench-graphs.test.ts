/**
 * The graphs of bench/graphs have the shape issue 18 asks for: the clustered one like the
 * Facebook ego network (about 962 users, 18,800 friendships loaded both ways, clustering
 * coefficient of at least 0.4), the seed one kith seed's sparser power-law graph; both the same
 * on every run. And the lag quantiles read from the histogram interpolate as Prometheus does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildGraph, EGO_DEGREE, EGO_USERS, graphStats } from '../bench/graphs/graph.ts';
import { lagBetween } from '../bench/graphs/lag.ts';
import { loaderPosts } from '../bench/graphs/posts.ts';

const ego = { users: EGO_USERS, meanDegree: EGO_DEGREE, seed: 18 };

describe('bench graphs', () => {
  it('the clustered graph is shaped like the Facebook ego network', () => {
    const graph = buildGraph('clustered', ego);
    const s = graphStats(graph);
    assert.equal(s.users, 962);
    assert.ok(Math.abs(s.follows - 37_624) < 400, `${s.follows} follows`);
    assert.ok(s.meanFollowees > 38 && s.meanFollowees < 40, `${s.meanFollowees} followees`);
    assert.ok(s.clustering >= 0.4, `clustering ${s.clustering}`);
    const keys = new Set(graph.follows.map(([a, b]) => `${a}>${b}`));
    assert.equal(keys.size, graph.follows.length, 'no follow twice');
    for (const [a, b] of graph.follows) {
      assert.notEqual(a, b, 'nobody follows themselves');
      assert.ok(keys.has(`${b}>${a}`), 'every friendship is loaded both ways');
    }
  });

  it('is deterministic, and the seed graph is the sparser, less clustered one', () => {
    assert.deepEqual(buildGraph('clustered', ego).follows, buildGraph('clustered', ego).follows);
    const seed = graphStats(buildGraph('seed', ego));
    assert.deepEqual(seed, graphStats(buildGraph('seed', ego)));
    assert.ok(seed.clustering < graphStats(buildGraph('clustered', ego)).clustering);
    assert.ok(seed.maxFollowers > 300, 'a few accounts are very popular');
  });

  it('a tiny clustered graph for smoke runs still has the requested degree', () => {
    const s = graphStats(buildGraph('clustered', { users: 60, meanDegree: 10, seed: 18 }));
    assert.equal(s.follows, 600);
    assert.ok(s.clustering >= 0.4);
  });

  it("composes 0-20 posts per user as DeathStarBench's loader does", () => {
    const posts = loaderPosts(EGO_USERS, 20, 18);
    assert.ok(Math.abs(posts.length - 9_620) < 600, `${posts.length} posts`);
    for (const p of posts.slice(0, 200)) {
      assert.match(p.text, /^[A-Za-z0-9]{256}( @username_\d+){0,5}( http:\/\/[a-z0-9]{64}){0,5}$/);
      assert.ok(p.mediaIds.length <= 5 && p.mediaIds.every((m) => /^\d{18}$/.test(m)));
    }
  });

  it('lag quantiles interpolate inside the histogram buckets', () => {
    const zero = {
      count: 0,
      sum: 0,
      buckets: [0.1, 1, 2.5, Infinity].map((b): [number, number] => [b, 0]),
    };
    // 100 posts: 50 under 0.1 s, 40 in (0.1, 1], 10 in (1, 2.5].
    const after = {
      count: 100,
      sum: 30,
      buckets: [
        [0.1, 50],
        [1, 90],
        [2.5, 100],
        [Infinity, 100],
      ] as [number, number][],
    };
    const lag = lagBetween(zero, after);
    assert.equal(lag.posts, 100);
    assert.equal(lag.meanMs, 300);
    assert.ok(Math.abs(lag.p50Ms - 100) < 1e-6);
    assert.ok(Math.abs(lag.p99Ms - 2_350) < 1e-6);
  });
});
