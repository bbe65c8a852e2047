/**
 * `npm run bench:feed [-- --real] [--quick]`: home-feed measurements (issues 5 and 10).
 *
 *  1. Fan-out lag: authors with 1,000, 10,000 and 100,000 followers (all active, all with a
 *     home timeline) post through the API, one post at a time; measured until the last
 *     follower's timeline holds the post. All are fanned out (FEED_FANOUT_MAX_FOLLOWERS is
 *     raised to the largest audience for this part).
 *  2. Feed-read throughput: readers following authors with posts, timelines built by one read
 *     each; autocannon (another process) reads GET /api/v1/feed?limit=20 as every reader in turn,
 *     next to a bare node:http server loaded the same way in the same run.
 *  3. Write cost past the big-account threshold (bench/write-cost.ts, a kith of its own at the
 *     default threshold): POST /posts under load as a small author and as authors with 20,000
 *     and 100,000 followers, which are not fanned out; the cost should be flat.
 *
 * kith runs in this process (api and worker roles) on the embedded stack, or with `--real`
 * (or BENCH_REAL=1) on DATABASE_URL / REDIS_URL / AMQP_URL, in a database and under prefixes of
 * its own that are removed afterwards. Results are printed and written to bench/results/.
 * Options: --duration <s> --warmup <s> --connections <n> --repeats <n> --readers <n>
 * --followers <n,n,…> (fan-out audiences) --big <n,n,…> (big authors' followers, above the
 * default threshold) --quick (a short smoke-sized run: audiences of 100 and 1,000, big authors of 2,000 and
 * 5,000 above a threshold of 1,000, all in one kith).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { Context } from '../src/app/context.ts';
import { homeTimeline } from '../src/modules/feed/feed.service.ts';
import {
  cleanUp,
  apiCall,
  busyWarning,
  counterValue,
  fmt,
  machineInfo,
  machineLine,
  measureLoad,
  median,
  numberOption,
  onInterrupt,
  startBaseline,
  table,
  writeResults,
  loadFigure,
  type Figure,
  type LoadResult,
} from './lib.ts';
import * as seed from './seed.ts';
import { startKith, wantsReal, type KithUnderTest } from './stack.ts';
import {
  measureWriteCost,
  writeCostFigures,
  writeCostSection,
  type WriteCostOptions,
  type WriteCostResult,
} from './write-cost.ts';

const text = { type: 'string' } as const;
const { values } = parseArgs({
  options: {
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    followers: text,
    big: text,
    duration: text,
    connections: text,
    warmup: text,
    repeats: text,
    readers: text,
  },
});
const quick = values.quick === true;
const list = (raw: string | undefined, fallback: number[]) =>
  raw === undefined
    ? fallback
    : raw.split(',').map((x) => {
        const n = Number(x.trim());
        if (!Number.isInteger(n) || n < 1) throw new Error('--followers, --big: positive integers');
        return n;
      });
const P = {
  duration: numberOption(values, 'duration', quick ? 2 : 10),
  connections: numberOption(values, 'connections', quick ? 10 : 50),
  warmup: numberOption(values, 'warmup', quick ? 1 : 3),
  repeats: numberOption(values, 'repeats', quick ? 2 : 5),
  readers: numberOption(values, 'readers', quick ? 50 : 200),
  /** Fan-out audiences. */
  followerCounts: list(values.followers, quick ? [100, 1_000] : [1_000, 10_000, 100_000]).sort(
    (a, b) => a - b,
  ),
  /** Write cost: the big authors' followers, above `writeThreshold`, and the small author's. */
  bigFollowers: list(values.big, quick ? [2_000, 5_000] : [20_000, 100_000]),
  smallFollowers: 50,
  /**
   * FEED_FANOUT_MAX_FOLLOWERS of the write-cost part (undefined: kith's default, 10,000). Quick:
   * the lag part's (its largest audience), so one kith serves both parts.
   */
  writeThreshold: undefined as number | undefined,
  writeConnections: quick ? 5 : 10,
  writeDuration: quick ? 1 : 5,
  writeWarmup: quick ? 0 : 2,
  feedAuthors: 100,
  followsPerReader: 50,
  postsPerAuthor: 20,
  pageSize: 20,
};
const LAG_THRESHOLD = Math.max(...P.followerCounts);
if (quick) P.writeThreshold = LAG_THRESHOLD;
const KITH_ENV = { FEED_FANOUT_MAX_FOLLOWERS: String(LAG_THRESHOLD) };
const FEED_PATH = `/feed?limit=${P.pageSize}`;

interface LagSample {
  /** From sending the POST to the fan-out having reached every follower, as seen here. */
  totalMs: number;
  /** kith_feed_fanout_lag_seconds for this post: from the post's created_at to the last push. */
  metricMs: number;
  /** From sending the POST until the first follower (first batch) held it. */
  firstMs: number;
  /** The POST request alone. */
  postMs: number;
}

interface Seeded {
  /** One per entry of P.followerCounts. */
  authors: string[];
  /** Followers of the authors: the first n follow the author with n followers. */
  followers: string[];
  readers: string[];
}

const log = (line: string) => console.log(line);

const api = <T>(kith: KithUnderTest, path: string, init?: RequestInit) =>
  apiCall<T>(kith.url, path, init);

async function seedAll(ctx: Context): Promise<Seeded> {
  const { db } = ctx.database;
  const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => prefix + i);
  const authors = await seed.insertUsers(
    db,
    P.followerCounts.map((n) => `bench_author_${n}`),
  );
  const followers = await seed.insertUsers(db, names('bench_f', Math.max(...P.followerCounts)));
  const feedAuthors = await seed.insertUsers(db, names('bench_a', P.feedAuthors));
  const readers = await seed.insertUsers(db, names('bench_r', P.readers));
  const random = seed.prng(5);
  await seed.insertFollows(db, [
    ...P.followerCounts.flatMap((n, a) =>
      followers.slice(0, n).map((f) => [f, authors[a]!] as const),
    ),
    ...readers.flatMap((r) =>
      seed.sample(feedAuthors, P.followsPerReader, random).map((a) => [r, a] as const),
    ),
  ]);
  // Round-robin, so every author's posts are spread over the whole period.
  const posts = Array.from({ length: P.postsPerAuthor }, (_, round) =>
    feedAuthors.map((authorId, i) => ({
      authorId,
      text: `Post ${round} of author ${i}. `.repeat(4),
    })),
  );
  await seed.insertPosts(db, posts.flat());
  await seed.recount(db);
  // Followers have (empty) home timelines, as active users do: fan-out only pushes into those.
  const cap = ctx.config.feedTimelineCap;
  for (let i = 0; i < followers.length; i += 1_000) {
    await Promise.all(
      followers.slice(i, i + 1_000).map((f) => ctx.timelines.replace(homeTimeline(f), [], cap)),
    );
  }
  return { authors, followers, readers };
}

async function lagHistogram(ctx: Context): Promise<{ count: number; sum: number }> {
  const { values: v } = await ctx.metrics.feedFanoutLag.get();
  const pick = (suffix: string) => v.find((x) => x.metricName?.endsWith(suffix))?.value ?? 0;
  return { count: pick('_count'), sum: pick('_sum') };
}

async function holds(ctx: Context, userId: string, postId: string): Promise<boolean> {
  const entries = await ctx.timelines.range(homeTimeline(userId), { limit: 5 });
  return (entries ?? []).some((e) => e.id === postId);
}

/**
 * One post, followed until its fan-out has finished: the consumer observes the lag histogram
 * after the last batch, which is polled here (with the first and last follower's timelines).
 */
async function fanOutOnce(
  kith: KithUnderTest,
  token: string,
  audience: readonly string[],
  n: number,
): Promise<LagSample> {
  const { ctx } = kith;
  const before = await lagHistogram(ctx);
  const t0 = performance.now();
  const post = await api<{ id: string }>(kith, '/posts', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ text: `Fan-out benchmark post ${n}` }),
  });
  const postMs = performance.now() - t0;
  let firstMs: number | undefined;
  for (;;) {
    if (firstMs === undefined && (await holds(ctx, audience[0]!, post.id)))
      firstMs = performance.now() - t0;
    const now = await lagHistogram(ctx);
    if (now.count > before.count) {
      const totalMs = performance.now() - t0;
      if (!(await holds(ctx, audience.at(-1)!, post.id)))
        throw new Error('fan-out finished without reaching the last follower');
      return {
        totalMs,
        metricMs: (now.sum - before.sum) * 1000,
        firstMs: firstMs ?? totalMs,
        postMs,
      };
    }
    if (performance.now() - t0 > 120_000)
      throw new Error(`post ${post.id} not fanned out in 120 s`);
    await delay(1);
  }
}

async function measureFanout(kith: KithUnderTest, s: Seeded) {
  const { ctx } = kith;
  const results: { followers: number; samples: LagSample[] }[] = [];
  const received = new Map<string, number>();
  for (const n of P.followerCounts) {
    const session = await api<{ access_token: string }>(kith, '/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ login: `bench_author_${n}`, password: seed.SEED_PASSWORD }),
    });
    // Fan-out walks followers in id order: [0] is in the first batch, the last in the last.
    const audience = s.followers.slice(0, n).sort();
    const samples: LagSample[] = [];
    for (let i = 0; i < P.repeats; i++) {
      samples.push(await fanOutOnce(kith, session.access_token, audience, i));
      for (const f of audience) received.set(f, (received.get(f) ?? 0) + 1);
      await delay(250);
    }
    results.push({ followers: n, samples });
    log(`Fan-out to ${fmt(n)} followers: ${samples.map((x) => fmt(x.totalMs)).join(', ')} ms`);
  }
  // Every follower's timeline holds exactly the posts fanned out to them.
  for (let i = 0; i < s.followers.length; i += 1_000) {
    const part = s.followers.slice(i, i + 1_000);
    const sizes = await Promise.all(part.map((f) => ctx.timelines.size(homeTimeline(f))));
    const j = part.findIndex((f, k) => sizes[k] !== received.get(f));
    if (j >= 0)
      throw new Error(
        `timeline of ${part[j]} holds ${sizes[j]} posts, not ${received.get(part[j]!)}`,
      );
  }
  log(
    `Checked: all ${fmt(s.followers.length)} follower timelines hold every post fanned out to them.`,
  );
  return results;
}

async function measureReads(kith: KithUnderTest, s: Seeded) {
  const { ctx } = kith;
  const tokens = await Promise.all(
    s.readers.map((userId) => ctx.accessTokens.sign({ userId, sessionId: randomUUID() })),
  );
  const rotateHeaders = tokens.map((token) => ({ authorization: `Bearer ${token}` }));
  // One read each builds the timelines (and warms the caches), ten readers at a time.
  for (let i = 0; i < rotateHeaders.length; i += 10) {
    await Promise.all(
      rotateHeaders.slice(i, i + 10).map(async (headers) => {
        const page = await api<{ items: unknown[] }>(kith, FEED_PATH, { headers });
        if (page.items.length !== P.pageSize)
          throw new Error(`a reader's feed had ${page.items.length} posts, not ${P.pageSize}`);
      }),
    );
  }
  const load = { connections: P.connections, duration: P.duration };
  const measureBaseline = async () => {
    const server = await startBaseline();
    try {
      return await measureLoad({ url: server.url, path: '/', ...load }, P.warmup);
    } finally {
      await server.close();
    }
  };
  const counters = async () => ({
    timeline: await counterValue(ctx.metrics.feedReads, { source: 'timeline' }),
    sql: await counterValue(ctx.metrics.feedReads, { source: 'sql' }),
    rebuilds: await counterValue(ctx.metrics.feedRebuilds),
  });
  // The baseline brackets the feed run, so a change in the machine's load shows.
  const baselineBefore = await measureBaseline();
  const before = await counters();
  const path = '/api/v1' + FEED_PATH;
  const feed = await measureLoad({ url: kith.url, path, rotateHeaders, ...load }, P.warmup);
  const after = await counters();
  const baselineAfter = await measureBaseline();
  const served = {
    timeline: after.timeline - before.timeline,
    sql: after.sql - before.sql,
    rebuilds: after.rebuilds - before.rebuilds,
  };
  const baselineRps = (baselineBefore.requestsPerSec + baselineAfter.requestsPerSec) / 2;
  return { baselineBefore, feed, baselineAfter, ratio: feed.requestsPerSec / baselineRps, served };
}

function report(
  fanout: Awaited<ReturnType<typeof measureFanout>>,
  reads: Awaited<ReturnType<typeof measureReads>>,
  outboxPollMs: number,
): string {
  const lagRows = fanout.map(({ followers, samples }) => {
    const of = (k: keyof LagSample) => samples.map((x) => x[k]);
    return [
      fmt(followers),
      samples.length,
      ...[of('totalMs'), of('metricMs')].flatMap((v) => [fmt(median(v)), fmt(Math.max(...v))]),
      fmt(median(of('firstMs'))),
      fmt(median(of('postMs')), 1),
    ];
  });
  const { baselineBefore, feed, baselineAfter, served } = reads;
  const baselineRps = (baselineBefore.requestsPerSec + baselineAfter.requestsPerSec) / 2;
  const loadRow = (what: string, r: LoadResult) => [
    what,
    fmt(r.requestsPerSec),
    fmt(r.latencyP50, 1),
    fmt(r.latencyP99, 1),
    r.errors + r.timeouts,
    r.non2xx,
    fmt(r.bytesPerSec / Math.max(1, r.requestsPerSec)),
    `${fmt((100 * r.requestsPerSec) / baselineRps, 1)} %`,
  ];
  return [
    '## Fan-out lag',
    '',
    `One post at a time through \`POST /api/v1/posts\`, ${P.repeats} per author; every follower is active and has a home timeline. ` +
      "Lag: from sending the POST until the last follower's timeline holds the post (observed in process). " +
      "Metric: `kith_feed_fanout_lag_seconds` of the same posts (from the post's `created_at` to the last push). " +
      `Both include the outbox relay's wait for its next poll (up to OUTBOX_POLL_MS=${outboxPollMs}).`,
    '',
    table(
      [
        'Followers',
        'Posts',
        'Lag median (ms)',
        'Lag max (ms)',
        'Metric median (ms)',
        'Metric max (ms)',
        'First follower median (ms)',
        'POST median (ms)',
      ],
      lagRows,
    ),
    '',
    '## Feed-read throughput',
    '',
    `${fmt(P.readers)} readers, each following ${P.followsPerReader} of ${P.feedAuthors} authors with ${P.postsPerAuthor} posts each; ` +
      `timelines built by one read each. autocannon in a separate process, ${P.connections} connections, ${P.duration} s after a ${P.warmup} s warm-up, ` +
      `each connection cycling through every reader's token. During warm-up and run: ${fmt(served.timeline)} pages from timelines, ` +
      `${fmt(served.sql)} from SQL, ${fmt(served.rebuilds)} rebuilds. The baseline is measured before and after; "Of baseline" compares with their mean.`,
    '',
    table(
      [
        'Target',
        'Req/s',
        'p50 (ms)',
        'p99 (ms)',
        'Errors',
        'Non-2xx',
        'Bytes/response',
        'Of baseline',
      ],
      [
        loadRow('node:http, fixed JSON (baseline, before)', baselineBefore),
        loadRow(`GET /api/v1${FEED_PATH} (${fmt(P.readers)} users in turn)`, feed),
        loadRow('node:http, fixed JSON (baseline, after)', baselineAfter),
      ],
    ),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const kind = wantsReal(process.argv) ? 'real' : 'embedded';
  const busy = busyWarning(machine);
  log(`# kith feed benchmark (${kind})\n\nMachine: ${machineLine(machine)}`);
  if (busy) log(busy);
  let kith: KithUnderTest | undefined = await startKith(kind, KITH_ENV);
  onInterrupt(() => kith?.stop());
  try {
    const { description, settings } = kith;
    log(`Stack: ${description}\n`);
    const t = performance.now();
    const seeded = await seedAll(kith.ctx);
    const seedSeconds = (performance.now() - t) / 1000;
    log(
      `Seeded ${fmt(seeded.followers.length + seeded.readers.length + P.feedAuthors + P.followerCounts.length)} users in ${fmt(seedSeconds, 1)} s`,
    );
    const fanout = await measureFanout(kith, seeded);
    const reads = await measureReads(kith, seeded);
    const outboxPollMs = kith.ctx.config.outboxPollMs;
    // One kith for both parts when the big authors are above the lag part's threshold too.
    const shareKith =
      P.writeThreshold === LAG_THRESHOLD && P.bigFollowers.every((n) => n > LAG_THRESHOLD);
    if (!shareKith) {
      await kith.stop();
      kith = undefined;
    }
    const writeOptions: WriteCostOptions = {
      ...(P.writeThreshold === undefined ? {} : { threshold: P.writeThreshold }),
      smallFollowers: P.smallFollowers,
      bigFollowers: P.bigFollowers,
      connections: P.writeConnections,
      duration: P.writeDuration,
      warmup: P.writeWarmup,
    };
    const writeCost = await measureWriteCost(kind, writeOptions, kith);
    const totalSeconds = (performance.now() - started) / 1000;
    const markdown = [
      `# kith feed benchmark (${kind})`,
      '',
      `- Machine: ${machineLine(machine)}`,
      `- Stack: ${description}`,
      `- Settings: ${Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')} (fan-out lag and feed reads)`,
      `- Date: ${new Date().toISOString()}; whole run ${fmt(totalSeconds)} s (seeding ${fmt(seedSeconds + writeCost.seedSeconds, 1)} s)`,
      ...(busy ? [`- ${busy}`] : []),
      '',
      report(fanout, reads, outboxPollMs),
      writeCostSection(writeCost, writeOptions),
    ].join('\n');
    log('\n' + markdown);
    writeResults(`feed-${kind}`, markdown, {
      name: 'feed',
      date: new Date().toISOString(),
      machine,
      stack: { kind, description, settings },
      parameters: P,
      seedSeconds,
      totalSeconds,
      fanout,
      feedRead: reads,
      writeCost,
      figures: figures(fanout, reads, writeCost),
    });
  } finally {
    await cleanUp(() => kith?.stop());
  }
}

function figures(
  fanout: Awaited<ReturnType<typeof measureFanout>>,
  reads: Awaited<ReturnType<typeof measureReads>>,
  writeCost: WriteCostResult,
): Figure[] {
  const baselineRps =
    (reads.baselineBefore.requestsPerSec + reads.baselineAfter.requestsPerSec) / 2;
  return [
    ...fanout.map(({ followers, samples }): Figure => {
      const lags = samples.map((x) => x.totalMs);
      return {
        id: `feed.lag.${followers}`,
        label: `Fan-out lag, ${fmt(followers)} followers (median of ${samples.length} posts)`,
        value: median(lags),
        unit: 'ms',
        note: `max ${fmt(Math.max(...lags))} ms`,
      };
    }),
    loadFigure(
      'feed.read',
      `Home feed read, synthetic graph (${fmt(P.readers)} readers following ${P.followsPerReader} authors)`,
      reads.feed,
      baselineRps,
    ),
    ...writeCostFigures(writeCost),
  ];
}

await main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
// Everything is written and cleaned up: nothing left over may keep the process alive.
process.exit();
