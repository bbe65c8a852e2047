/**
 * The write cost of big accounts (part of `npm run bench:feed`): POST /posts under load as an
 * author with few followers (fanned out) and as authors past FEED_FANOUT_MAX_FOLLOWERS (not
 * fanned out: their posts are merged into feeds at read time). Past the threshold, a post
 * should cost the same whatever the audience: one row, one event the feed consumer drops.
 *
 * Runs a kith of its own, with the threshold at its default (or `threshold`), since the fan-out
 * lag part raises it to fan out to every audience it measures; or, when that threshold suits
 * (every big author above it), the lag part's kith.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { homeTimeline } from '../src/modules/feed/feed.service.ts';
import { drain } from '../test/support/drain.ts';
import type { Context } from '../src/app/context.ts';
import type { RequestTemplate } from './autocannon-runner.ts';
import {
  cleanUp,
  fmt,
  loadFigure,
  okPerSec,
  runLoad,
  table,
  type Figure,
  type LoadResult,
} from './lib.ts';
import * as seed from './seed.ts';
import { startKith, type KithUnderTest, type StackKind } from './stack.ts';

export interface WriteCostOptions {
  /** FEED_FANOUT_MAX_FOLLOWERS for this part (undefined: kith's default). */
  threshold?: number;
  /** Followers of the small author (fanned out, each with a home timeline). */
  smallFollowers: number;
  /** Followers of each big author: all above the threshold. */
  bigFollowers: number[];
  connections: number;
  duration: number;
  warmup: number;
}

interface AuthorRun {
  author: string;
  followers: number;
  fannedOut: boolean;
  load: LoadResult;
  /** Fan-out batches run for this author's posts (0 past the threshold). */
  fanoutBatches: number;
  /** Seconds until the worker had handled every event after the load. */
  drainSeconds: number;
}

export interface WriteCostResult {
  threshold: number;
  runs: AuthorRun[];
  /** The slowest big author's req/s over the fastest one's (means of their runs): 1 is flat. */
  flatness: number;
  /** The slowest big author's req/s over the small author's (means of their runs). */
  vsSmall: number;
  seedSeconds: number;
}

const log = (line: string) => console.log(line);

/** Measures in `shared` when given (its threshold must suit), else in a kith of its own. */
export async function measureWriteCost(
  kind: StackKind,
  o: WriteCostOptions,
  shared?: KithUnderTest,
): Promise<WriteCostResult> {
  const kith =
    shared ??
    (await startKith(
      kind,
      o.threshold === undefined ? {} : { FEED_FANOUT_MAX_FOLLOWERS: String(o.threshold) },
    ));
  try {
    const { ctx } = kith;
    const { db } = ctx.database;
    const threshold = ctx.config.feedFanoutMaxFollowers;
    if (o.bigFollowers.some((n) => n <= threshold) || o.smallFollowers > threshold)
      throw new Error(`big authors need more than ${threshold} followers, the small one at most`);
    const t = performance.now();
    const sizes = [o.smallFollowers, ...o.bigFollowers];
    const authors = await seed.insertUsers(
      db,
      sizes.map((n, i) => `bench_writer_${i}_${n}`),
    );
    const most = Math.max(...sizes);
    const followers = await seed.insertUsers(
      db,
      Array.from({ length: most }, (_, i) => `bench_wf${i}`),
    );
    await seed.insertFollows(
      db,
      sizes.flatMap((n, a) => followers.slice(0, n).map((f) => [f, authors[a]!] as const)),
    );
    await seed.recount(db);
    const cap = ctx.config.feedTimelineCap;
    await Promise.all(
      followers
        .slice(0, o.smallFollowers)
        .map((f) => ctx.timelines.replace(homeTimeline(f), [], cap)),
    );
    const seedSeconds = (performance.now() - t) / 1000;
    log(`Write cost: seeded ${fmt(most + sizes.length)} users in ${fmt(seedSeconds, 1)} s`);

    const runs: AuthorRun[] = [];
    // Two rounds of every author in turn, so a drift of the machine spreads over all of them.
    const round = sizes.map((_, i) => i);
    for (const a of [...round, ...round]) {
      const token = await ctx.accessTokens.sign({ userId: authors[a]!, sessionId: randomUUID() });
      const requests: RequestTemplate[] = Array.from({ length: 100 }, (_, i) => ({
        method: 'POST',
        path: '/api/v1/posts',
        body: JSON.stringify({ text: `Write-cost post ${i}` }),
        token: 0,
      }));
      const base = { url: kith.url, connections: o.connections, requests, tokens: [token] };
      if (o.warmup > 0) await runLoad({ ...base, duration: o.warmup });
      await drain(ctx, 600_000);
      const batches = await fanoutBatchCount(ctx);
      const load = await runLoad({ ...base, duration: o.duration });
      const t0 = performance.now();
      await drain(ctx, 600_000);
      const drainSeconds = (performance.now() - t0) / 1000;
      const fanoutBatches = (await fanoutBatchCount(ctx)) - batches;
      const { rows } = await sql<{ fan_out: boolean }>`
        select bool_or(fan_out) as fan_out from posts where author_id = ${authors[a]!}`.execute(db);
      const run: AuthorRun = {
        author: `bench_writer_${a}_${sizes[a]}`,
        followers: sizes[a]!,
        fannedOut: rows[0]?.fan_out === true,
        load,
        fanoutBatches,
        drainSeconds,
      };
      if (a > 0 && (run.fannedOut || fanoutBatches > 0))
        throw new Error(`posts of ${run.author} were fanned out despite the threshold`);
      runs.push(run);
      log(
        `POST /posts as an author with ${fmt(run.followers)} followers: ${fmt(okPerSec(load))} req/s, ` +
          `p50 ${fmt(load.latencyP50, 1)} ms, p99 ${fmt(load.latencyP99, 1)} ms (fan-out: ${run.fannedOut ? 'yes' : 'no'})`,
      );
    }
    /** Mean 2xx req/s of each author's runs. */
    const rps = (i: number) => {
      const mine = runs.filter((r) => r.author === runs[i]!.author);
      return mine.reduce((sum, r) => sum + okPerSec(r.load), 0) / mine.length;
    };
    const smallRps = rps(0);
    const big = o.bigFollowers.map((_, i) => rps(i + 1));
    const flatness = Math.min(...big) / Math.max(...big);
    return { threshold, runs, flatness, vsSmall: Math.min(...big) / smallRps, seedSeconds };
  } finally {
    if (!shared) await cleanUp(() => kith.stop());
  }
}

/** Observations of kith_feed_fanout_batch so far (one per fan-out step). */
async function fanoutBatchCount(ctx: Context): Promise<number> {
  const { values } = await ctx.metrics.feedFanoutBatch.get();
  return values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
}

export function writeCostSection(w: WriteCostResult, o: WriteCostOptions): string {
  return [
    '## Write cost past the big-account threshold',
    '',
    `POST /api/v1/posts under load (autocannon in another process, ${o.connections} connections, ${o.duration} s after a ${o.warmup} s warm-up), ` +
      `as one author at a time, in a kith with FEED_FANOUT_MAX_FOLLOWERS=${fmt(w.threshold)}: ` +
      `an author with ${fmt(o.smallFollowers)} followers (fanned out; every follower has a home timeline) and ` +
      `authors with ${o.bigFollowers.map((n) => fmt(n)).join(' and ')} followers (past the threshold: not fanned out, merged into feeds at read time), ` +
      `in turn, twice. ` +
      `One author per run, so every run also contends on that author's row (post counter): compare the rows with each other, not with the create-post figure of bench:http. ` +
      `"Drained": seconds after the load until the worker had handled every event. ` +
      `Flatness (means of each author's runs): the slowest big author reached ${fmt(100 * w.flatness, 1)} % of the fastest one's req/s, ` +
      `and ${fmt(100 * w.vsSmall, 1)} % of the small author's (whose posts are fanned out on the same CPUs).`,
    '',
    table(
      [
        'Author followers',
        'Fanned out',
        'Req/s (2xx)',
        'p50 (ms)',
        'p99 (ms)',
        'Errors',
        'Fan-out batches',
        'Drained (s)',
      ],
      w.runs.map((r) => [
        fmt(r.followers),
        r.fannedOut ? 'yes' : 'no',
        fmt(okPerSec(r.load)),
        fmt(r.load.latencyP50, 1),
        fmt(r.load.latencyP99, 1),
        r.load.non2xx + r.load.errors + r.load.timeouts,
        fmt(r.fanoutBatches),
        fmt(r.drainSeconds, 1),
      ]),
    ),
    '',
  ].join('\n');
}

export function writeCostFigures(w: WriteCostResult): Figure[] {
  const seen = new Map<number, number>();
  const figures = w.runs.map((r) => {
    const n = (seen.get(r.followers) ?? 0) + 1;
    seen.set(r.followers, n);
    const suffix = n > 1 ? `, again` : '';
    return loadFigure(
      `feed.write.${r.followers}${n > 1 ? `.${n}` : ''}`,
      `Create post as an author with ${fmt(r.followers)} followers (${r.fannedOut ? 'fanned out' : 'past the threshold'}${suffix})`,
      r.load,
    );
  });
  figures.push(
    {
      id: 'feed.writecost',
      label: `Write cost past the threshold: slowest big author's req/s over the fastest one's`,
      value: w.flatness,
      unit: 'ratio',
    },
    {
      id: 'feed.writecost.small',
      label: `Write cost past the threshold: slowest big author's req/s over the small author's`,
      value: w.vsSmall,
      unit: 'ratio',
    },
  );
  return figures;
}
