import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError } from '../errors.ts';

export interface LimitRule {
  /** Namespaces the counters, so two rules never share a key by accident. */
  name: string;
  max: number;
  windowSeconds: number;
  /** What is being limited: a client IP, an account, … */
  key(request: FastifyRequest): string;
}

/**
 * A hook that counts requests per key over a fixed window (store from @fastify/rate-limit) and
 * answers 429 with `Retry-After` and `RateLimit-*` headers once the budget is spent. One limiter
 * can guard several routes, which then share its budget.
 */
export function createLimiter(app: FastifyInstance, rule: LimitRule) {
  const check = app.createRateLimit({
    max: rule.max,
    timeWindow: rule.windowSeconds * 1000,
    keyGenerator: (request) => limitKey(rule.name, rule.key(request)),
  });
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const limit = await check(request);
    if (limit.isAllowed) return;
    void reply.headers({
      'ratelimit-limit': limit.max,
      'ratelimit-remaining': Math.max(0, limit.remaining),
      'ratelimit-reset': limit.ttlInSeconds,
    });
    if (limit.isExceeded) {
      throw new AppError(
        429,
        'rate_limited',
        `Too many requests; retry in ${limit.ttlInSeconds} s.`,
        {
          headers: { 'retry-after': String(limit.ttlInSeconds) },
        },
      );
    }
  };
}

/** The client address; behind trusted proxies Fastify derives it from X-Forwarded-For. */
export const clientIp = (request: FastifyRequest): string => request.ip ?? 'unknown';

/** The counter of one rule for one subject: `auth-ip:203.0.113.7`. */
export const limitKey = (rule: string, subject: string): string => `${rule}:${subject}`;

/** Fixed window: the first hit starts it; later hits report what is left of it. */
const FIXED_WINDOW = `
  local current = redis.call('INCR', KEYS[1])
  local ttl
  if current == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    ttl = tonumber(ARGV[1])
  else
    ttl = redis.call('PTTL', KEYS[1])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[1], ARGV[1])
      ttl = tonumber(ARGV[1])
    end
  end
  return {current, ttl}
`;

type WithLimitCommand = Redis & {
  kithRateLimit(key: string, windowMs: number): Promise<[number, number]>;
};

/**
 * A Redis store for @fastify/rate-limit whose counters are named `prefix + key`, e.g.
 * `kith:rl:auth-ip:203.0.113.7`. The plugin's own store names a limiter made with
 * createRateLimit after a route it does not have (`undefinedundefined-`); our limiters are
 * named by their rule instead (see limitKey), so the store adds nothing to the key.
 */
export function redisLimitStore(
  redis: Redis,
  prefix: string,
  breaker?: { run<T>(call: () => Promise<T>): Promise<T> },
): FastifyRateLimitStoreCtor {
  if (!('kithRateLimit' in redis)) {
    redis.defineCommand('kithRateLimit', { numberOfKeys: 1, lua: FIXED_WINDOW });
  }
  const commands = redis as WithLimitCommand;
  class RedisLimitStore implements FastifyRateLimitStore {
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number,
    ): void {
      // Through the breaker when there is one: a sick Redis fails at once (and the request
      // passes, skipOnError) instead of each request waiting out a timeout.
      const call = () => commands.kithRateLimit(prefix + key, timeWindow);
      (breaker ? breaker.run(call) : call()).then(
        ([current, ttl]) => callback(null, { current, ttl }),
        (err: Error) => callback(err),
      );
    }
    child(): FastifyRateLimitStore {
      return this;
    }
  }
  return RedisLimitStore;
}
