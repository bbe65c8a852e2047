/**
 * `npm run bench:soak [-- --real] [--minutes 10] [--quick]`: a long mixed load (issue 11), to see
 * whether kith stays healthy over time: error rate, latency and memory, window by window.
 *
 *  1. Soak: a seeded graph (kith's own seeder), then a steady mixed load at a fixed rate (open
 *     loop, autocannon in a separate process, one run per window of --window seconds): home feeds,
 *     profiles, profile feeds, single posts, notifications and conversation lists read; posts,
 *     likes and unlikes, comments and direct messages written, every request as a random seeded
 *     user. After each window: the window's req/s, errors, p50/p99, event-loop delay (this
 *     process: kith runs in it), then kith's memory after forced garbage collection (heap used,
 *     RSS), the database size and the outbox backlog. Verdict: error rate below 0.1 %, and the
 *     heap used in the last third of the run at most max(10 %, 16 MiB) above the first third's
 *     (medians of the windows of each third). On the embedded stack the timelines and the cache
 *     live in that heap: both are capped, but fill during the run, hence the allowance.
 *  2. Overload (skip with --no-overload): home-feed reads offered beyond capacity (open loop, at
 *     multiples of the capacity measured first), then by many connections that resend at once
 *     (closed loop), on a fresh kith with load shedding at its defaults and on one with every
 *     SHED_MAX_* at 0: with shedding the excess is refused with 503 and latency stays bounded;
 *     without, latency grows with the queue.
 *
 * kith runs in this process (api and worker roles) on the embedded stack, or with --real (or
 * BENCH_REAL=1) on DATABASE_URL / REDIS_URL / AMQP_URL, in a database and under prefixes of its
 * own that are removed afterwards. Results are printed and written to bench/results/
 * (soak-<stack>-<stamp>.md and .json); the last line printed names them.
 * Options: --minutes <n> --rate <req/s> --connections <n> --window <s> --users <n>
 * --quick (20 s of soak, short overload steps).
 */
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import { seedDatabase } from '../src/cli/seed.ts';
import { prng } from '../src/cli/seed-data.ts';
import type { Context } from '../src/app/context.ts';
import { drain } from '../test/support/drain.ts';
import type { RequestTemplate } from './autocannon-runner.ts';
import {
  apiCall,
  busyWarning,
  failures,
  fmt,
  loadFigure,
  machineInfo,
  machineLine,
  numberOption,
  okPerSec,
  pct,
  runLoad,
  table,
  writeResults,
  type Figure,
  type LoadResult,
} from './lib.ts';
import { startKith, wantsReal, type KithUnderTest, type StackKind } from './stack.ts';

const text = { type: 'string' } as const;
const { values } = parseArgs({
  allowNegative: true,
  options: {
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    overload: { type: 'boolean', default: true },
    minutes: text,
    rate: text,
    connections: text,
    window: text,
    users: text,
  },
});
const quick = values.quick === true;
const P = {
  minutes: quick ? 1 / 3 : numberOption(values, 'minutes', 10),
  /** Seconds per load run; one sample per window. */
  window: numberOption(values, 'window', quick ? 5 : 10),
  /** Requests per second over all connections. */
  rate: numberOption(values, 'rate', 40),
  connections: numberOption(values, 'connections', 10),
  users: numberOption(values, 'users', 500),
  postsPerUser: 5,
  seed: 20261121,
  conversations: 100,
  pageSize: 20,
  /** Heap growth allowed between the first and the last third: a fraction, or this many bytes. */
  heapGrowthFraction: 0.1,
  heapGrowthBytes: 16 * 2 ** 20,
  maxErrorRate: 0.001,
  overload: {
    /** Offered rates, as multiples of the measured capacity (open loop). */
    multiples: quick ? [0.5, 3] : [0.5, 1.5, 3],
    openConnections: 1000,
    closedConnections: 400,
    seconds: quick ? 4 : 10,
    users: 300,
  },
};
/** Tokens outlive the run; everything else is kith's defaults. */
const KITH_ENV = { ACCESS_TOKEN_TTL: '86400' };
const API = '/api/v1';
const PASSWORD = 'soak-password-123';
const MiB = 2 ** 20;
const log = (line: string) => console.log(line);

/** The request mix, in parts per hundred. */
const MIX = {
  home: 30,
  profile: 10,
  profilePosts: 10,
  post: 5,
  notifications: 10,
  conversations: 5,
  createPost: 8,
  like: 8,
  comment: 7,
  message: 7,
} as const;
type Kind = keyof typeof MIX;

interface Graph {
  users: { id: string; username: string }[];
  /** Public seeded posts: the targets of reads, likes and comments. */
  posts: string[];
  conversations: { id: string; members: [number, number] }[];
  seeded: { users: number; follows: number; posts: number; likes: number; comments: number };
}

interface Window {
  index: number;
  /** Minutes since the soak started, at the end of this window. */
  atMinutes: number;
  load: LoadResult;
  errorRate: number;
  /** Event-loop delay of this process during the load run (ms). */
  loopDelayMeanMs: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  /** After forced GC, once the load run ended. */
  heapUsed: number;
  rss: number;
  /** Buffers and ArrayBuffers (PGlite's memory on the embedded stack). */
  external: number;
  databaseBytes: number;
  outboxBacklog: number;
  shed: number;
  loadAverage: number;
}

/** `gc()`, exposed at run time (so `node bench/soak.ts` needs no --expose-gc). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

async function settledMemory(gc: () => void) {
  for (let i = 0; i < 3; i++) {
    gc();
    await delay(50);
  }
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external };
}

async function shedTotal(ctx: Context): Promise<number> {
  const { values: v } = await ctx.metrics.httpShed.get();
  return v.reduce((sum, x) => sum + x.value, 0);
}

async function databaseBytes(ctx: Context): Promise<number> {
  const { rows } = await sql<{
    size: string;
  }>`select pg_database_size(current_database()) as size`.execute(ctx.database.db);
  return Number(rows[0]?.size ?? NaN);
}

async function seedGraph(ctx: Context, users: number): Promise<Graph> {
  const { db } = ctx.database;
  const s = await seedDatabase(db, {
    users,
    postsPerUser: P.postsPerUser,
    seed: P.seed,
    prefix: '',
    days: 28,
    password: PASSWORD,
    bcryptCost: ctx.config.bcryptCost,
    fanoutMaxFollowers: ctx.config.feedFanoutMaxFollowers,
  });
  const userRows = await sql<{ id: string; username: string }>`
    select id, username from users order by username`.execute(db);
  const postRows = await sql<{ id: string }>`
    select id from posts where visibility = 'public' order by id desc limit 2000`.execute(db);
  const list = userRows.rows;
  const index = new Map(list.map((u, i) => [u.id, i]));
  // Conversations between neighbours in a shuffled order; a pair whose dm_policy refuses is
  // skipped (the soak's messages must all be allowed).
  const random = prng(P.seed + 1);
  const conversations: Graph['conversations'] = [];
  for (let i = 0; conversations.length < P.conversations && i < 20 * P.conversations; i++) {
    const a = Math.floor(random() * list.length);
    const b = Math.floor(random() * list.length);
    if (a === b) continue;
    try {
      const { conversation } = await ctx.messages.open(list[a]!.id, list[b]!.username);
      const id = (conversation as { id: string }).id;
      if (conversations.some((c) => c.id === id)) continue;
      conversations.push({ id, members: [a, b] });
    } catch {
      // not allowed between these two
    }
  }
  if (conversations.length < P.conversations / 2)
    throw new Error(`only ${conversations.length} conversations could be opened`);
  if (index.size !== list.length) throw new Error('duplicate users');
  return {
    users: list,
    posts: postRows.rows.map((r) => r.id),
    conversations,
    seeded: {
      users: s.users,
      follows: s.follows,
      posts: s.posts,
      likes: s.likes,
      comments: s.comments,
    },
  };
}

/** Every request of one window: random kinds (by MIX), users and targets, new texts. */
function windowRequests(g: Graph, w: number, count: number): RequestTemplate[] {
  const random = prng(P.seed * 1_000 + w);
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  const kinds = Object.entries(MIX) as [Kind, number][];
  const total = kinds.reduce((sum, [, n]) => sum + n, 0);
  const kindOf = (): Kind => {
    let r = random() * total;
    for (const [kind, n] of kinds) if ((r -= n) < 0) return kind;
    return 'home';
  };
  const user = () => Math.floor(random() * g.users.length);
  const json = (o: object) => JSON.stringify(o);
  return Array.from({ length: count }, (_, i): RequestTemplate => {
    const token = user();
    const note = `soak window ${w} request ${i}`;
    switch (kindOf()) {
      case 'home':
        return { path: `${API}/feed?limit=${P.pageSize}`, token };
      case 'profile':
        return { path: `${API}/users/${pick(g.users).username}`, token };
      case 'profilePosts':
        return { path: `${API}/users/${pick(g.users).username}/posts?limit=${P.pageSize}`, token };
      case 'post':
        return { path: `${API}/posts/${pick(g.posts)}`, token };
      case 'notifications':
        return { path: `${API}/notifications?limit=${P.pageSize}`, token };
      case 'conversations':
        return { path: `${API}/conversations?limit=${P.pageSize}`, token };
      case 'createPost':
        return { method: 'POST', path: `${API}/posts`, token, body: json({ text: note }) };
      case 'like':
        // Likes and unlikes in equal parts: most are real writes, the table does not only grow.
        return {
          method: random() < 0.5 ? 'POST' : 'DELETE',
          path: `${API}/posts/${pick(g.posts)}/like`,
          token,
        };
      case 'comment':
        return {
          method: 'POST',
          path: `${API}/posts/${pick(g.posts)}/comments`,
          token,
          body: json({ text: note }),
        };
      case 'message': {
        const c = pick(g.conversations);
        return {
          method: 'POST',
          path: `${API}/conversations/${c.id}/messages`,
          token: c.members[random() < 0.5 ? 0 : 1],
          body: json({ text: note }),
        };
      }
    }
  });
}

const signAll = (ctx: Context, g: Graph) =>
  Promise.all(g.users.map((u) => ctx.accessTokens.sign({ userId: u.id, sessionId: randomUUID() })));

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? NaN : num / den;
}

/**
 * Before the measured windows: every user's home timeline built by one read (ten at a time; the
 * first reads rebuild timelines from SQL, a burst of heavy queries), then a quiet moment until
 * load shedding has measured a calm event loop, so the soak starts from a steady state.
 */
async function warmUp(kith: KithUnderTest, tokens: readonly string[]): Promise<number> {
  const t = performance.now();
  for (let i = 0; i < tokens.length; i += 10) {
    await Promise.all(
      tokens.slice(i, i + 10).map((token) =>
        apiCall(kith.url, `/feed?limit=${P.pageSize}`, {
          headers: { authorization: `Bearer ${token}` },
        }),
      ),
    );
  }
  const { config, metrics } = kith.ctx;
  const calm = async () =>
    1000 * ((await metrics.shedEventLoopDelay.get()).values[0]?.value ?? 0) <
    config.shedMaxEventLoopDelayMs / 2;
  for (let quiet = 0; quiet < 2;) {
    await delay(config.shedSampleIntervalMs);
    quiet = (await calm()) ? quiet + 1 : 0;
  }
  return (performance.now() - t) / 1000;
}

async function soak(
  kith: KithUnderTest,
  g: Graph,
): Promise<{ windows: Window[]; warmUpSeconds: number }> {
  const { ctx } = kith;
  const gc = collector();
  const tokens = await signAll(ctx, g);
  const warmUpSeconds = await warmUp(kith, tokens);
  log(`Warm-up: every home timeline built, event loop calm, in ${fmt(warmUpSeconds, 1)} s`);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const windows: Window[] = [];
  const started = performance.now();
  const perWindow = Math.ceil(P.rate * P.window * 1.5); // more than sent: none repeats
  for (let w = 0; (performance.now() - started) / 60_000 < P.minutes; w++) {
    const requests = windowRequests(g, w, perWindow);
    const shedBefore = await shedTotal(ctx);
    loop.reset();
    const load = await runLoad({
      url: kith.url,
      requests,
      tokens,
      connections: P.connections,
      duration: P.window,
      overallRate: P.rate,
    });
    const loopStats = {
      loopDelayMeanMs: loop.mean / 1e6,
      loopDelayP99Ms: loop.percentile(99) / 1e6,
      loopDelayMaxMs: loop.max / 1e6,
    };
    const memory = await settledMemory(gc);
    const sample: Window = {
      index: w,
      atMinutes: (performance.now() - started) / 60_000,
      load,
      errorRate: load.totalRequests > 0 ? failures(load) / load.totalRequests : 0,
      ...loopStats,
      ...memory,
      databaseBytes: await databaseBytes(ctx),
      outboxBacklog: (await ctx.relay.backlog()).count,
      shed: (await shedTotal(ctx)) - shedBefore,
      loadAverage: loadavg()[0]!,
    };
    windows.push(sample);
    log(
      `window ${w}: ${fmt(okPerSec(load))} req/s 2xx, ${failures(load)} failed` +
        `${Object.keys(load.statusCodes).length > 1 ? ` ${JSON.stringify(load.statusCodes)}` : ''}, ` +
        `p99 ${fmt(load.latencyP99)} ms, loop p99 ${fmt(sample.loopDelayP99Ms)} ms, ` +
        `heap ${fmt(sample.heapUsed / MiB, 1)} MiB, rss ${fmt(sample.rss / MiB)} MiB, ` +
        `db ${fmt(sample.databaseBytes / MiB, 1)} MiB, backlog ${sample.outboxBacklog}, load ${fmt(sample.loadAverage, 2)}`,
    );
  }
  loop.disable();
  return { windows, warmUpSeconds };
}

interface Verdict {
  requests: number;
  failed: number;
  errorRate: number;
  errorsOk: boolean;
  heapFirstThird: number;
  heapMiddleThird: number;
  heapLastThird: number;
  heapGrowth: number;
  heapAllowed: number;
  heapOk: boolean;
  rssFirstThird: number;
  rssLastThird: number;
  /** Heap after GC over the last two thirds, bytes per minute. */
  heapSlopePerMinute: number;
  rssSlopePerMinute: number;
  pass: boolean;
}

function judge(windows: readonly Window[]): Verdict {
  const third = Math.max(1, Math.floor(windows.length / 3));
  const first = windows.slice(0, third);
  const middle = windows.slice(third, windows.length - third);
  const last = windows.slice(windows.length - third);
  const requests = windows.reduce((s, w) => s + w.load.totalRequests, 0);
  const failed = windows.reduce((s, w) => s + failures(w.load), 0);
  const errorRate = requests > 0 ? failed / requests : 1;
  const heapFirstThird = median(first.map((w) => w.heapUsed));
  const heapLastThird = median(last.map((w) => w.heapUsed));
  const heapGrowth = heapLastThird - heapFirstThird;
  const heapAllowed = Math.max(P.heapGrowthFraction * heapFirstThird, P.heapGrowthBytes);
  const tail = windows.slice(third);
  const errorsOk = errorRate < P.maxErrorRate;
  const heapOk = heapGrowth <= heapAllowed;
  return {
    requests,
    failed,
    errorRate,
    errorsOk,
    heapFirstThird,
    heapMiddleThird: median(middle.map((w) => w.heapUsed)),
    heapLastThird,
    heapGrowth,
    heapAllowed,
    heapOk,
    rssFirstThird: median(first.map((w) => w.rss)),
    rssLastThird: median(last.map((w) => w.rss)),
    heapSlopePerMinute: slope(
      tail.map((w) => w.atMinutes),
      tail.map((w) => w.heapUsed),
    ),
    rssSlopePerMinute: slope(
      tail.map((w) => w.atMinutes),
      tail.map((w) => w.rss),
    ),
    pass: errorsOk && heapOk,
  };
}

interface OverloadStep {
  shedding: boolean;
  /** Open: requests sent at `rate` whatever the answers; closed: each connection resends at once. */
  mode: 'open' | 'closed';
  /** Offered rate (open loop), req/s, and as a multiple of the measured capacity. */
  rate?: number;
  ofCapacity?: number;
  connections: number;
  load: LoadResult;
  /** Requests shed during the step, by reason. */
  shed: Record<string, number>;
  loopDelayP99Ms: number;
}

const SHEDDING_OFF = {
  SHED_MAX_IN_FLIGHT: '0',
  SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
  SHED_MAX_EVENT_LOOP_UTILIZATION: '0',
  SHED_MAX_HEAP_MB: '0',
};

async function shedByReason(ctx: Context): Promise<Record<string, number>> {
  const { values: v } = await ctx.metrics.httpShed.get();
  return Object.fromEntries(v.map((x) => [String(x.labels.reason), x.value]));
}

/**
 * Home-feed reads beyond capacity, on a fresh kith with shedding (the defaults) and on one
 * without. Capacity is measured first (10 connections, closed loop, on the kith with shedding:
 * it sheds nothing there); then requests are offered at multiples of it, open loop (enough
 * connections that each waits for its answer without slowing the offered rate much), and once
 * closed loop with many connections (clients that retry at once). Logs at `fatal` only: each
 * shed request is logged as an error by the error handler, and thousands would flood this output.
 */
async function overload(kind: StackKind): Promise<{ capacity: number; steps: OverloadStep[] }> {
  const steps: OverloadStep[] = [];
  let capacity = 0;
  for (const shedding of [true, false]) {
    const kith = await startKith(kind, {
      ...KITH_ENV,
      LOG_LEVEL: 'fatal',
      ...(shedding ? {} : SHEDDING_OFF),
    });
    try {
      const g = await seedGraph(kith.ctx, P.overload.users);
      const tokens = await signAll(kith.ctx, g);
      const requests = g.users.map((_, token) => ({ path: `${API}/feed?limit=20`, token }));
      const base = { url: kith.url, requests, tokens };
      // Timelines built and code warm before anything is measured.
      await runLoad({ ...base, connections: 10, duration: 3 });
      if (capacity === 0) {
        const measured = await runLoad({ ...base, connections: 10, duration: P.overload.seconds });
        capacity = okPerSec(measured);
        log(`overload: capacity ${fmt(capacity)} req/s (10 connections, closed loop)`);
      }
      const loop = monitorEventLoopDelay({ resolution: 10 });
      loop.enable();
      const plan = [
        ...P.overload.multiples.map((m) => ({
          mode: 'open' as const,
          ofCapacity: m,
          rate: Math.round(m * capacity),
          connections: P.overload.openConnections,
        })),
        { mode: 'closed' as const, connections: P.overload.closedConnections },
      ];
      for (const step of plan) {
        const shedBefore = await shedByReason(kith.ctx);
        loop.reset();
        const load = await runLoad({
          ...base,
          connections: step.connections,
          duration: P.overload.seconds,
          ...(step.mode === 'open' ? { overallRate: step.rate } : {}),
        });
        const shedAfter = await shedByReason(kith.ctx);
        const shed = Object.fromEntries(
          Object.entries(shedAfter)
            .map(([reason, n]) => [reason, n - (shedBefore[reason] ?? 0)] as const)
            .filter(([, n]) => n > 0),
        );
        const done = { ...step, shedding, load, shed, loopDelayP99Ms: loop.percentile(99) / 1e6 };
        steps.push(done);
        log(
          `overload, shedding ${shedding ? 'on' : 'off'}, ${stepLabel(done)}: ` +
            `${fmt(okPerSec(load))} req/s 2xx, p50 ${fmt(load.latencyP50)} ms, p99 ${fmt(load.latencyP99)} ms, ` +
            `shed ${JSON.stringify(shed)}, ${load.errors + load.timeouts} socket errors/timeouts, loop p99 ${fmt(done.loopDelayP99Ms)} ms`,
        );
        // The next step starts on a server that has caught up.
        await delay(3_000);
      }
      loop.disable();
    } finally {
      await kith.stop();
    }
  }
  return { capacity, steps };
}

const stepLabel = (s: Pick<OverloadStep, 'mode' | 'rate' | 'ofCapacity' | 'connections'>) =>
  s.mode === 'open'
    ? `open loop, ${fmt(s.rate ?? 0)} req/s offered (${fmt(s.ofCapacity ?? 0, 1)}× capacity)`
    : `closed loop, ${s.connections} connections`;

function report(
  windows: readonly Window[],
  v: Verdict,
  overloaded: { capacity: number; steps: OverloadStep[] } | undefined,
): string {
  const mib = (n: number, d = 1) => fmt(n / MiB, d);
  const rows = windows.map((w) => [
    w.index,
    fmt(w.atMinutes, 1),
    fmt(okPerSec(w.load)),
    failures(w.load),
    w.shed,
    pct(w.errorRate),
    fmt(w.load.latencyP50),
    fmt(w.load.latencyP99),
    fmt(w.loopDelayP99Ms),
    mib(w.heapUsed),
    mib(w.rss, 0),
    mib(w.external, 0),
    mib(w.databaseBytes),
    w.outboxBacklog,
    fmt(w.loadAverage, 2),
  ]);
  const mixLine = Object.entries(MIX)
    .map(([k, n]) => `${n} % ${k}`)
    .join(', ');
  const lines = [
    '## Soak',
    '',
    `A fixed rate of ${P.rate} req/s (open loop: autocannon in a separate process, ${P.connections} connections, one run per ${P.window} s window), ` +
      `every request as a random one of ${fmt(windows.length > 0 ? P.users : 0)} seeded users. Mix: ${mixLine} ` +
      '(likes are likes and unlikes in equal parts; posts, comments and messages are new each time). ' +
      'Memory is sampled after each window, after forced garbage collection; "Loop p99" is the event-loop delay of the kith process during the window. ' +
      '"External" is memory outside the JS heap (Buffers, ArrayBuffers: PGlite keeps its whole database there on the embedded stack). ' +
      '"Backlog": outbox events not yet relayed when the window ended.',
    '',
    table(
      [
        'Window',
        'At (min)',
        'Req/s (2xx)',
        'Failed',
        'Of which shed',
        'Error rate',
        'p50 (ms)',
        'p99 (ms)',
        'Loop p99 (ms)',
        'Heap used (MiB)',
        'RSS (MiB)',
        'External (MiB)',
        'Database (MiB)',
        'Backlog',
        'Load avg',
      ],
      rows,
    ),
    '',
    '### Memory curve and verdict',
    '',
    table(
      ['', 'First third', 'Middle third', 'Last third'],
      [
        [
          'Heap used after GC (median, MiB)',
          mib(v.heapFirstThird),
          mib(v.heapMiddleThird),
          mib(v.heapLastThird),
        ],
        ['RSS (median, MiB)', mib(v.rssFirstThird, 0), '', mib(v.rssLastThird, 0)],
      ],
    ),
    '',
    `- Requests: ${fmt(v.requests)}, failed (non-2xx, socket errors, timeouts): ${fmt(v.failed)}, error rate ${pct(v.errorRate)} ` +
      `(bound < ${pct(P.maxErrorRate)}): **${v.errorsOk ? 'pass' : 'FAIL'}**`,
    `- Heap growth, first to last third: ${mib(v.heapGrowth)} MiB (bound ≤ ${mib(v.heapAllowed)} MiB: the larger of ` +
      `${pct(P.heapGrowthFraction)} of the first third and ${mib(P.heapGrowthBytes, 0)} MiB): **${v.heapOk ? 'pass' : 'FAIL'}**`,
    `- Trend over the last two thirds: heap ${fmt(v.heapSlopePerMinute / MiB, 2)} MiB/min, RSS ${fmt(v.rssSlopePerMinute / MiB, 2)} MiB/min.`,
    `- Verdict: **${v.pass ? 'pass' : 'FAIL'}**`,
    '',
  ];
  if (overloaded) {
    const stepRows = overloaded.steps.map((s) => [
      s.shedding ? 'on' : 'off',
      stepLabel(s),
      fmt(okPerSec(s.load)),
      fmt(s.load.latencyP50),
      fmt(s.load.latencyP99),
      fmt(s.load.latencyMax),
      fmt(s.load.statusCodes['503'] ?? 0),
      Object.entries(s.shed)
        .map(([reason, n]) => `${reason} ${fmt(n)}`)
        .join(', ') || '—',
      s.load.errors + s.load.timeouts,
      fmt(s.loopDelayP99Ms),
    ]);
    lines.push(
      '## Overload: with and without load shedding',
      '',
      `Home-feed reads (GET /api/v1/feed?limit=20, users in turn), ${P.overload.seconds} s per step. Capacity, measured first with 10 connections: ` +
        `${fmt(overloaded.capacity)} req/s. Open loop: requests offered at a multiple of it over ${fmt(P.overload.openConnections)} connections ` +
        '(each waits for its answer; autocannon counts a request that could not leave on time from when it should have, so a queue shows in the latencies). ' +
        `Closed loop: ${P.overload.closedConnections} connections, each sending its next request as soon as it is answered (clients that retry at once, ignoring Retry-After). ` +
        `Each side on a fresh kith with ${fmt(P.overload.users)} seeded users: "on" with load shedding at its defaults ` +
        '(SHED_MAX_IN_FLIGHT=256, SHED_MAX_EVENT_LOOP_DELAY_MS=200 sampled every second), "off" with every SHED_MAX_* at 0; ' +
        'both log at `fatal` only (every shed request would otherwise log an error). ' +
        'Latencies are of every answer, 503s included (autocannon does not tell them apart); autocannon gives up on a request after 10 s (a timeout). ' +
        '"Shed" is what kith counted, by reason.',
      '',
      table(
        [
          'Shedding',
          'Load',
          'Req/s (2xx)',
          'p50 (ms)',
          'p99 (ms)',
          'Max (ms)',
          '503',
          'Shed',
          'Socket errors/timeouts',
          'Loop p99 (ms)',
        ],
        stepRows,
      ),
      '',
    );
  }
  return lines.join('\n');
}

function figures(v: Verdict, windows: readonly Window[], steps: readonly OverloadStep[]): Figure[] {
  const all = windows.map((w) => w.load);
  const out: Figure[] = [
    { id: 'soak.error_rate', label: 'Soak: error rate', value: v.errorRate, unit: 'fraction' },
    {
      id: 'soak.heap_growth',
      label: 'Soak: heap growth, first to last third',
      value: v.heapGrowth / MiB,
      unit: 'MiB',
    },
    {
      id: 'soak.p99',
      label: 'Soak: median of the windows’ p99',
      value: median(all.map((l) => l.latencyP99)),
      unit: 'ms',
    },
  ];
  for (const s of steps)
    out.push(
      loadFigure(
        `soak.overload.${s.shedding ? 'shed' : 'noshed'}.${s.mode === 'open' ? `x${s.ofCapacity}` : `c${s.connections}`}`,
        `Overload, shedding ${s.shedding ? 'on' : 'off'}, ${stepLabel(s)}`,
        s.load,
      ),
    );
  return out;
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const kind = wantsReal(process.argv) ? 'real' : 'embedded';
  const busy = busyWarning(machine);
  log(`# kith soak (${kind})\n\nMachine: ${machineLine(machine)}`);
  if (busy) log(busy);
  const kith = await startKith(kind, KITH_ENV);
  const interrupt = () => void kith.stop().finally(() => process.exit(130));
  process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
  let windows: Window[];
  let warmUpSeconds: number;
  let graph: Graph;
  let drainSeconds: number;
  let seedSeconds: number;
  const description = kith.description;
  const settings = kith.settings;
  try {
    log(`Stack: ${kith.description}\n`);
    const t = performance.now();
    graph = await seedGraph(kith.ctx, P.users);
    seedSeconds = (performance.now() - t) / 1000;
    log(
      `Seeded ${fmt(graph.seeded.users)} users, ${fmt(graph.seeded.follows)} follows, ${fmt(graph.seeded.posts)} posts, ` +
        `${graph.conversations.length} conversations in ${fmt(seedSeconds, 1)} s`,
    );
    ({ windows, warmUpSeconds } = await soak(kith, graph));
    const d = performance.now();
    await drain(kith.ctx, 120_000);
    drainSeconds = (performance.now() - d) / 1000;
  } finally {
    await kith.stop();
  }
  const overloaded = values.overload ? await overload(kind) : undefined;
  const verdict = judge(windows);
  const endLoad = loadavg()[0]!;
  const totalSeconds = (performance.now() - started) / 1000;
  const markdown = [
    `# kith soak (${kind})`,
    '',
    `- Machine: ${machineLine(machine)}; load average ${fmt(endLoad, 2)} at the end`,
    `- Stack: ${description}`,
    `- Settings: ${Object.entries(settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')} (everything else at its default: load shedding on)`,
    `- Graph: \`kith seed\` with ${fmt(graph.seeded.users)} users, ${fmt(graph.seeded.follows)} follows, ${fmt(graph.seeded.posts)} posts, ` +
      `${fmt(graph.seeded.likes)} likes, ${fmt(graph.seeded.comments)} comments; ${graph.conversations.length} conversations (seeding ${fmt(seedSeconds, 1)} s). ` +
      `Warm-up, not measured: every home timeline built by one read, then a calm event loop (${fmt(warmUpSeconds, 1)} s)`,
    `- Date: ${new Date().toISOString()}; soak ${fmt(windows.at(-1)?.atMinutes ?? 0, 1)} min in ${windows.length} windows; ` +
      `the worker had handled every event ${fmt(drainSeconds, 1)} s after the load stopped; whole run ${fmt(totalSeconds)} s`,
    ...(busy ? [`- ${busy}`] : []),
    '',
    report(windows, verdict, overloaded),
  ].join('\n');
  log('\n' + markdown);
  writeResults(`soak-${kind}`, markdown, {
    name: 'soak',
    date: new Date().toISOString(),
    machine,
    loadAverageAtEnd: endLoad,
    stack: { kind, description, settings },
    parameters: { ...P, mix: MIX },
    graph: { seeded: graph.seeded, conversations: graph.conversations.length },
    seedSeconds,
    warmUpSeconds,
    drainSeconds,
    totalSeconds,
    windows,
    verdict,
    overload: overloaded ?? null,
    figures: figures(verdict, windows, overloaded?.steps ?? []),
  });
  if (!verdict.pass) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
