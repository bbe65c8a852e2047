import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { redisUrl, testPrefix, testRedis } from '../../../test/support/services.ts';
import type { Cache } from './cache.ts';
import { MemoryCache } from './memory-cache.ts';
import { RedisCache } from './redis-cache.ts';

// The memory cache follows Date.now here, so the test can move time with mock timers.
const implementations: [string, () => Promise<Cache>][] = [
  ['memory', async () => new MemoryCache(1000, { now: () => Date.now() })],
];
if (redisUrl())
  implementations.push(['redis', async () => new RedisCache(await testRedis(), `${testPrefix}:`)]);

for (const [name, make] of implementations) {
  describe(`Cache contract: ${name}`, () => {
    it('stores JSON values and returns copies', async () => {
      const cache = await make();
      const value = { a: 1, list: ['x'], nested: { ok: true } };
      await cache.set('k1', value, 60);
      const got = await cache.get<typeof value>('k1');
      assert.deepEqual(got, value);
      got.a = 2;
      assert.equal((await cache.get<typeof value>('k1'))!.a, 1);
    });

    it('misses are undefined', async () => {
      const cache = await make();
      assert.equal(await cache.get('absent'), undefined);
    });

    it('gets many in order, misses included', async () => {
      const cache = await make();
      await cache.set('m1', 1, 60);
      await cache.set('m3', 'three', 60);
      assert.deepEqual(await cache.getMany(['m1', 'm2', 'm3']), [1, undefined, 'three']);
      assert.deepEqual(await cache.getMany([]), []);
    });

    it('deletes one or several keys', async () => {
      const cache = await make();
      await cache.set('d1', 1, 60);
      await cache.set('d2', 2, 60);
      await cache.set('d3', 3, 60);
      await cache.delete('d1', 'd2');
      assert.deepEqual(await cache.getMany(['d1', 'd2', 'd3']), [undefined, undefined, 3]);
      await cache.delete();
    });

    it('expires entries after their TTL', async (t) => {
      t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
      const cache = await make();
      await cache.set('ttl', 'soon gone', 1);
      if (name === 'redis') {
        // Redis keeps its own clock: check the TTL it recorded instead of waiting.
        const redis = await testRedis();
        const ttl = await redis.pttl(`${testPrefix}:ttl`);
        assert.ok(ttl > 0 && ttl <= 1000, `ttl ${ttl}`);
        return;
      }
      t.mock.timers.tick(1_500);
      assert.equal(await cache.get('ttl'), undefined);
    });

    it('overwrites a value', async () => {
      const cache = await make();
      await cache.set('o', 1, 60);
      await cache.set('o', 2, 60);
      assert.equal(await cache.get('o'), 2);
    });
  });
}

describe('MemoryCache bound', () => {
  it('evicts the least recently used entry past its size', async () => {
    const cache = new MemoryCache(2);
    await cache.set('a', 1, 60);
    await cache.set('b', 2, 60);
    await cache.get('a');
    await cache.set('c', 3, 60);
    assert.deepEqual(await cache.getMany(['a', 'b', 'c']), [1, undefined, 3]);
  });
});
