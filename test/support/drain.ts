import type { Context } from '../../src/app/context.ts';
import { waitFor } from './wait.ts';

/**
 * Waits until every event written so far has been published and handled (or dead-lettered) by
 * each consumer group of this context's worker: compares the outbox with the consumer metrics.
 * For a context whose worker role was started in the same process (`startWorker(ctx)`).
 */
export async function drain(ctx: Context, ms = 20_000): Promise<void> {
  const { db } = ctx.database;
  const counter = ctx.metrics.consumerEvents;
  await waitFor(
    async () => {
      if ((await ctx.relay.backlog()).count > 0) return false;
      for (const consumer of ctx.consumers) {
        const { count } = await db
          .selectFrom('outbox')
          .select((eb) => eb.fn.countAll<number>().as('count'))
          .where('type', 'in', [...consumer.types])
          .executeTakeFirstOrThrow();
        const values = (await counter.get()).values;
        const done = values
          .filter((v) => v.labels.group === consumer.group && v.labels.outcome !== 'retried')
          .reduce((sum, v) => sum + v.value, 0);
        if (done < Number(count)) return false;
      }
      return true;
    },
    'consumers drained',
    ms,
  );
}
