import type { Context } from '../context.ts';
import type { EventHandler, Subscription } from '../infra/bus/bus.ts';
import type { RunningRole } from './api.ts';

/** The `worker` role: every consumer group, and the outbox relay that feeds them. */
export async function startWorker(ctx: Context): Promise<RunningRole> {
  const { config } = ctx;
  const subscriptions: Subscription[] = [];
  for (const consumer of ctx.consumers) {
    const { group } = consumer;
    // Counts outcomes for /metrics; the bus decides retries and dead letters from the throw.
    const handle: EventHandler = async (event, attempt) => {
      try {
        await consumer.handle(event, attempt);
        ctx.metrics.consumerEvents.inc({ group, outcome: 'handled' });
      } catch (err) {
        const outcome = attempt >= config.consumerMaxAttempts ? 'dead_lettered' : 'retried';
        ctx.metrics.consumerEvents.inc({ group, outcome });
        ctx.log.warn(
          { err, group, event_id: event.id, type: event.type, attempt, outcome },
          'consumer failed',
        );
        throw err;
      }
    };
    subscriptions.push(
      await ctx.bus.consume(group, consumer.types, handle, {
        maxAttempts: config.consumerMaxAttempts,
        retryDelaysMs: config.consumerRetryDelays,
      }),
    );
  }
  ctx.relay.start();
  ctx.log.info({ consumers: ctx.consumers.map((c) => c.group) }, 'worker started');
  return {
    stop: async () => {
      // Relay first: in process, its publishes wait for the consumers, which must still run.
      await ctx.relay.stop();
      await Promise.all(subscriptions.map((s) => s.stop()));
    },
  };
}
