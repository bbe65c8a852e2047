import { Type } from 'typebox';
import type { Context } from './context.ts';
import { AppError } from '../errors.ts';
import type { App } from '../http/types.ts';

const READY_TIMEOUT_MS = 2_000;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `/healthz`: the process is alive. `/readyz`: it can serve, i.e. the database answers. Redis is
 * reported (`redis`: connected, unavailable or absent) but never makes it unready: without it,
 * kith serves from SQL and memory, degraded.
 */
export function healthRoutes(ctx: Context) {
  return async (app: App) => {
    app.get(
      '/healthz',
      {
        schema: {
          tags: ['health'],
          summary: 'Liveness',
          response: { 200: Type.Object({ status: Type.Literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );
    app.get(
      '/readyz',
      {
        schema: {
          tags: ['health'],
          summary: 'Readiness: the database answers (Redis reported, not required)',
          response: {
            200: Type.Object({
              status: Type.Literal('ready'),
              database: Type.String(),
              redis: Type.Union([
                Type.Literal('connected'),
                Type.Literal('unavailable'),
                Type.Literal('absent'),
              ]),
            }),
          },
        },
      },
      async (request) => {
        try {
          await withTimeout(ctx.database.ping(), READY_TIMEOUT_MS);
        } catch (err) {
          request.log.warn({ err }, 'readiness check failed');
          throw new AppError(503, 'not_ready', 'The database is not reachable.', {
            headers: { 'retry-after': '5' },
          });
        }
        const redis = !ctx.redisBreaker
          ? ('absent' as const)
          : ctx.redisBreaker.up
            ? ('connected' as const)
            : ('unavailable' as const);
        return { status: 'ready' as const, database: ctx.database.kind, redis };
      },
    );
  };
}
