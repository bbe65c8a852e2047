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
 * `/healthz`: the process is alive. `/readyz`: it can serve, i.e. the database answers. Redis and
 * the broker are reported but never make a node unready (`degraded: true` while either is
 * missing): without Redis kith serves from SQL and memory; cut off from the broker, writes go to
 * the outbox, reads need no broker and real-time pushes catch up from the stream log. Taking the
 * node out of the load balancer would not help: every node shares both.
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
          summary: 'Readiness: the database answers (Redis and broker reported, not required)',
          response: {
            200: Type.Object({
              status: Type.Literal('ready'),
              database: Type.String(),
              redis: Type.Union([
                Type.Literal('connected'),
                Type.Literal('unavailable'),
                Type.Literal('absent'),
              ]),
              broker: Type.Union([
                Type.Literal('connected'),
                Type.Literal('disconnected'),
                Type.Literal('in-process'),
              ]),
              degraded: Type.Boolean(),
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
        const broker = !ctx.config.amqpUrl
          ? ('in-process' as const)
          : ctx.bus.connected()
            ? ('connected' as const)
            : ('disconnected' as const);
        return {
          status: 'ready' as const,
          database: ctx.database.kind,
          redis,
          broker,
          degraded: broker === 'disconnected' || redis === 'unavailable',
        };
      },
    );
  };
}
