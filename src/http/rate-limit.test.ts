import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import rateLimit from '@fastify/rate-limit';
import Fastify from 'fastify';
import type { Redis } from 'ioredis';
import { newUser } from '../../test/support/factories.ts';
import { createTestApp } from '../../test/support/harness.ts';
import { redisUrl, testPrefix, testRedis } from '../../test/support/services.ts';
import { createLimiter, limitKey, redisLimitStore } from './rate-limit.ts';

const register = (app: Awaited<ReturnType<typeof createTestApp>>['app'], ip: string) =>
  app.inject({
    method: 'POST',
    url: '/api/v1/auth/register',
    payload: newUser(),
    remoteAddress: ip,
  });

describe('rate limits across API nodes', () => {
  it('each in-memory node counts on its own', async () => {
    const env = { RATE_LIMIT_AUTH_PER_IP: '1' };
    const [a, b] = await Promise.all([createTestApp({ env }), createTestApp({ env })]);
    assert.equal((await register(a.app, '10.1.0.1')).statusCode, 201);
    assert.equal((await register(b.app, '10.1.0.1')).statusCode, 201);
    assert.equal((await register(a.app, '10.1.0.1')).statusCode, 429);
  });

  if (redisUrl()) {
    it('nodes sharing Redis share one budget per client', async () => {
      const env = {
        RATE_LIMIT_AUTH_PER_IP: '2',
        REDIS_URL: redisUrl()!,
        REDIS_PREFIX: `${testPrefix}:shared:`,
      };
      const [a, b] = await Promise.all([createTestApp({ env }), createTestApp({ env })]);
      assert.equal((await register(a.app, '10.2.0.1')).statusCode, 201);
      assert.equal((await register(b.app, '10.2.0.1')).statusCode, 201);
      const third = await register(a.app, '10.2.0.1');
      assert.equal(third.statusCode, 429);
      assert.equal(third.json().code, 'rate_limited');
      assert.equal(
        (await register(b.app, '10.2.0.2')).statusCode,
        201,
        'another client is unaffected',
      );
    });
  }
});

describe('rate-limit counter names', () => {
  it('name a counter by rule and subject', () => {
    assert.equal(limitKey('auth-ip', '203.0.113.7'), 'auth-ip:203.0.113.7');
  });

  it('are the prefix, the rule and the subject in the Redis store (no route part)', async () => {
    // A stand-in for ioredis: records the key each counted request touches.
    const keys: string[] = [];
    const fake = {
      defineCommand(name: string) {
        (fake as unknown as Record<string, unknown>)[name] = (key: string, windowMs: number) => {
          keys.push(key);
          return Promise.resolve([keys.length, windowMs]);
        };
      },
    };
    const app = Fastify();
    await app.register(rateLimit, {
      global: false,
      store: redisLimitStore(fake as unknown as Redis, 'kith:rl:'),
    });
    const limit = createLimiter(app, {
      name: 'auth-ip',
      max: 1,
      windowSeconds: 60,
      key: (request) => request.ip,
    });
    app.get('/limited', { onRequest: limit }, async () => 'ok');
    const get = () => app.inject({ url: '/limited', remoteAddress: '10.9.0.1' });
    assert.equal((await get()).statusCode, 200);
    assert.equal((await get()).statusCode, 429);
    assert.deepEqual(keys, ['kith:rl:auth-ip:10.9.0.1', 'kith:rl:auth-ip:10.9.0.1']);
    await app.close();
  });

  // On the real stack (REDIS_URL set) this runs against that Redis, and fails if it is down.
  if (redisUrl()) {
    it('read kith:rl:<rule>:<subject> in Redis', async () => {
      const redis = await testRedis();
      const prefix = `${testPrefix}:names:`;
      const { app } = await createTestApp({
        env: { RATE_LIMIT_AUTH_PER_IP: '1', REDIS_URL: redisUrl()!, REDIS_PREFIX: prefix },
      });
      assert.equal((await register(app, '10.3.0.1')).statusCode, 201);
      assert.equal((await register(app, '10.3.0.1')).statusCode, 429);
      const names = (await redis.keys(`${prefix}rl:*`)).sort();
      assert.deepEqual(names, [`${prefix}rl:auth-ip:10.3.0.1`]);
      assert.equal(await redis.get(names[0]!), '2');
      const ttl = await redis.pttl(names[0]!);
      assert.ok(ttl > 0 && ttl <= 60_000, `counter expires with the window (pttl ${ttl})`);
    });
  }
});
