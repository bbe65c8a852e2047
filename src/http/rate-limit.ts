import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
    keyGenerator: (request) => `${rule.name}:${rule.key(request)}`,
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
