/**
 * The Redis circuit breaker against a fake client (no Redis needed): closed, calls go through;
 * a timeout opens it and recycles the connection; while open, calls fail at once without
 * reaching Redis; a probe answered in time closes it, one that times out recycles again.
 * The real cut and freeze are in test/fault/redis-recovery.test.ts.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { ReplyError } from 'ioredis';
import { createLogger } from '../../logger.ts';
import { RedisBreaker, RedisUnavailable } from './breaker.ts';

class FakeRedis extends EventEmitter {
  status = 'ready';
  destroyed = 0;
  pong: 'now' | 'never' = 'now';
  stream = { destroy: () => this.destroyed++ };
  ping(): Promise<string> {
    return this.pong === 'now' ? Promise.resolve('PONG') : new Promise(() => {});
  }
  disconnect(): void {}
}

const log = createLogger('silent');
const make = () => {
  const redis = new FakeRedis();
  const breaker = new RedisBreaker(redis as unknown as Redis, log, {
    probeEveryMs: 20,
    probeTimeoutMs: 50,
  });
  const states: boolean[] = [];
  breaker.onChange((up) => states.push(up));
  return { redis, breaker, states };
};

describe('RedisBreaker', () => {
  it('lets calls through, and a Redis reply error (a bad command) does not open it', async () => {
    const { breaker } = make();
    assert.equal(await breaker.run(async () => 'ok'), 'ok');
    const reply = new (ReplyError as new (message: string) => Error)('WRONGTYPE');
    await assert.rejects(
      breaker.run(() => Promise.reject(reply)),
      (err) => err === reply,
    );
    assert.equal(breaker.up, true);
    breaker.stop();
  });

  it('opens on a timeout, recycles the connection, fails calls at once, and closes on a PONG', async () => {
    const { redis, breaker, states } = make();
    redis.pong = 'never';
    await assert.rejects(breaker.run(() => Promise.reject(new Error('Command timed out'))));
    assert.deepEqual(states, [true, false]);
    assert.equal(redis.destroyed, 1, 'the frozen socket is destroyed');
    let reached = false;
    await assert.rejects(
      breaker.run(async () => (reached = true)),
      RedisUnavailable,
    );
    assert.equal(reached, false, 'Redis is not touched while open');
    await delay(150); // probes time out: the connection is recycled again
    assert.ok(redis.destroyed >= 2, `recycled ${redis.destroyed} times`);
    assert.equal(breaker.up, false);
    redis.pong = 'now';
    await delay(150);
    assert.equal(breaker.up, true);
    assert.deepEqual(states, [true, false, true]);
    breaker.stop();
  });

  it('opens when the connection closes, and waits for it to be ready before probing', async () => {
    const { redis, breaker } = make();
    redis.status = 'reconnecting';
    redis.emit('close');
    assert.equal(breaker.up, false);
    assert.equal(redis.destroyed, 0, 'a closed connection is not recycled again');
    await delay(100);
    assert.equal(breaker.up, false, 'no probe while not ready');
    redis.status = 'ready';
    await delay(100);
    assert.equal(breaker.up, true);
    breaker.stop();
  });

  it('guards every method of an adapter but close', async () => {
    const { redis, breaker } = make();
    const adapter = {
      calls: 0,
      async get() {
        this.calls++;
        return 1;
      },
      async close() {
        return 'closed';
      },
    };
    const guarded = breaker.guard(adapter);
    assert.equal(await guarded.get(), 1);
    redis.emit('close');
    redis.status = 'reconnecting';
    await assert.rejects(guarded.get(), RedisUnavailable);
    assert.equal(adapter.calls, 1);
    assert.equal(await guarded.close(), 'closed');
    breaker.stop();
  });
});
