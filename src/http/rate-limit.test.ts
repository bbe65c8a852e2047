import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newUser } from '../../test/support/factories.ts';
import { createTestApp } from '../../test/support/harness.ts';
import { redisUrl, testPrefix } from '../../test/support/services.ts';

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
