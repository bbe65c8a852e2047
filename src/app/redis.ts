import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';

const REDIS_COMMAND_TIMEOUT_MS = 1_000;
const REDIS_STARTUP_WAIT_MS = 3_000;
const REDIS_RECONNECT_MAX_MS = 250;

/**
 * Connects to Redis and waits (briefly) until it is ready, so the first requests already count
 * against shared rate limits and use the cache. If Redis is down, start anyway, degraded.
 */
export async function connectRedis(url: string, log: Logger): Promise<Redis> {
  // Fail fast while disconnected, and bound every command: callers fall back to the database
  // instead of waiting for Redis to come back.
  const redis = new Redis(url, {
    // 0: a command waiting on a connection that closes is rejected at once (with 1, ioredis keeps
    // it until the next reconnection fails too, seconds later when Redis is frozen).
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // Dial again at most every 250 ms (the default backs off to 2 s): a Redis that comes back is
    // used again within about half a second (see RedisBreaker).
    retryStrategy: (times: number) => Math.min(times * 50, REDIS_RECONNECT_MAX_MS),
    // Commands issued in the same tick, by any request, leave in one write: under load a
    // system call per command costs more than the commands themselves.
    enableAutoPipelining: true,
  });
  let warned = false;
  redis.on('error', (err) => {
    if (!warned) log.warn({ err }, 'redis connection error; retrying');
    warned = true;
  });
  redis.on('ready', () => {
    if (warned) log.info('redis connection restored');
    warned = false;
  });
  const ready = await Promise.race([
    // Not `once(redis, 'ready')`: that rejects on the first connection error.
    new Promise<boolean>((resolve) => redis.once('ready', () => resolve(true))),
    delay(REDIS_STARTUP_WAIT_MS, undefined, { ref: false }).then(() => false),
  ]);
  if (!ready) log.warn('redis not ready at start; serving without it until it is');
  return redis;
}
