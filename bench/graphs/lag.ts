/**
 * Fan-out lag and backlog as a benchmark sees them: kith_feed_fanout_lag_seconds (observed by
 * the fan-out consumer once a post has reached its last follower's timeline) read from the
 * in-process registry, and whether any event still waits for the worker.
 */
import type { Context } from '../../src/app/context.ts';

export interface LagSnapshot {
  count: number;
  sum: number;
  /** Cumulative bucket counts by upper bound (seconds), Infinity last. */
  buckets: [number, number][];
}

export interface LagStats {
  posts: number;
  meanMs: number;
  /** Interpolated inside the histogram's buckets, like Prometheus's histogram_quantile. */
  p50Ms: number;
  p99Ms: number;
}

export async function lagSnapshot(ctx: Context): Promise<LagSnapshot> {
  const { values } = await ctx.metrics.feedFanoutLag.get();
  const pick = (suffix: string) => values.find((v) => v.metricName?.endsWith(suffix))?.value ?? 0;
  const buckets = values
    .filter((v) => v.metricName?.endsWith('_bucket'))
    .map((v): [number, number] => {
      const le = (v.labels as { le?: string | number }).le;
      return [le === '+Inf' ? Infinity : Number(le), v.value];
    })
    .sort((a, b) => a[0] - b[0]);
  return { count: pick('_count'), sum: pick('_sum'), buckets };
}

function quantile(q: number, buckets: readonly [number, number][], count: number): number {
  if (count === 0) return NaN;
  const rank = q * count;
  let previousBound = 0;
  let previousCount = 0;
  for (const [bound, cumulative] of buckets) {
    if (cumulative >= rank) {
      if (bound === Infinity) return previousBound;
      const inBucket = cumulative - previousCount;
      const share = inBucket > 0 ? (rank - previousCount) / inBucket : 1;
      return previousBound + (bound - previousBound) * share;
    }
    previousBound = bound;
    previousCount = cumulative;
  }
  return previousBound;
}

/** The lag of the posts fanned out between two snapshots. */
export function lagBetween(before: LagSnapshot, after: LagSnapshot): LagStats {
  const count = after.count - before.count;
  const buckets = after.buckets.map(([bound, c], i): [number, number] => [
    bound,
    c - (before.buckets[i]?.[1] ?? 0),
  ]);
  return {
    posts: count,
    meanMs: count > 0 ? ((after.sum - before.sum) / count) * 1000 : NaN,
    p50Ms: quantile(0.5, buckets, count) * 1000,
    p99Ms: quantile(0.99, buckets, count) * 1000,
  };
}

/**
 * Events some consumer group has not handled yet, published or not (the predicate of
 * test/support/drain.ts, read once instead of awaited).
 */
export async function backlogNow(ctx: Context): Promise<number> {
  const { db } = ctx.database;
  let waiting = 0;
  const handled = (await ctx.metrics.consumerEvents.get()).values;
  for (const consumer of ctx.consumers) {
    const { count } = await db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('type', 'in', [...consumer.types])
      .executeTakeFirstOrThrow();
    const done = handled
      .filter((v) => v.labels.group === consumer.group && v.labels.outcome !== 'retried')
      .reduce((sum, v) => sum + v.value, 0);
    waiting += Math.max(0, Number(count) - done);
  }
  return waiting;
}
