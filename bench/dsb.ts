/**
 * `npm run bench:dsb [-- --real] [--quick]`: kith driven the way DeathStarBench (DSB) drives
 * its social network, through the /wrk2-api/ routes (DSB_COMPAT=true).
 *
 *  1. Graph: N users with a socfb-like degree distribution, generated here (DSB loads socfb
 *     graphs such as socfb-Reed98; they cannot be downloaded in this environment): Chung-Lu
 *     with log-normal weights, so degrees are skewed like Facebook friendship graphs.
 *  2. Loading, as init_social_graph.py does (form-encoded, up to `--parallel` at a time):
 *     register users 0..N-1, follow along every edge both ways by name, then compose up to
 *     `postsMax` posts per user (its `--compose`); each user's home timeline is read once (the
 *     timelines of active users exist in kith; fan-out only writes to those).
 *  3. Load, as DSB's wrk2 scripts build requests (absolute URL in the request line, unencoded
 *     bodies, a form content type on GETs), drawn with mixed-workload.lua's distributions:
 *     60 % home-timeline reads, 30 % user-timeline reads, 10 % compose (user ids 1..N-1 like
 *     its `max_user_index`, start 0-100, stop = start + 10; 256 random characters, 1-6 mentions,
 *     1-6 urls, 1-5 media with 18-digit ids). autocannon in another process sends the list;
 *     then each request kind alone, like DSB's read-home-timeline.lua, read-user-timeline.lua
 *     and compose-post.lua.
 *
 * The baseline, a bare node:http server with a fixed JSON body, is loaded the same way before
 * and after; ratios compare with their mean. kith runs in this process (api and worker roles),
 * embedded, or on Postgres + Redis + RabbitMQ with --real (or BENCH_REAL=1).
 * Options: --duration <s> --warmup <s> --connections <n> --users <n> --degree <mean> --quick.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { drain } from '../test/support/drain.ts';
import type { RequestTemplate } from './autocannon-runner.ts';
import {
  busyWarning,
  fmt,
  loadFigure,
  machineInfo,
  machineLine,
  median,
  numberOption,
  okPerSec,
  pct,
  runLoad,
  startBaseline,
  table,
  writeResults,
  type LoadResult,
} from './lib.ts';
import { prng } from './seed.ts';
import { startKith, wantsReal, type KithUnderTest } from './stack.ts';

const text = { type: 'string' } as const;
const { values } = parseArgs({
  options: {
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    duration: text,
    warmup: text,
    connections: text,
    users: text,
    degree: text,
  },
});
const quick = values.quick === true;
const P = {
  duration: numberOption(values, 'duration', quick ? 2 : 10),
  warmup: numberOption(values, 'warmup', quick ? 1 : 3),
  connections: numberOption(values, 'connections', quick ? 10 : 50),
  users: Math.max(10, numberOption(values, 'users', quick ? 100 : 1_000)),
  /** Mean degree of the friendship graph (socfb-Reed98: 39); every edge is two follows. */
  meanDegree: numberOption(values, 'degree', quick ? 8 : 10),
  /** Spread of the log-normal weights: how skewed the degrees are. */
  sigma: 1,
  /** Posts composed per user while loading: 0..postsMax, uniformly (init_social_graph: 0..20). */
  postsMax: quick ? 4 : 10,
  /** Requests the loader keeps in flight (init_social_graph.py: 200 connections). */
  parallel: 32,
  seed: 98,
  /** Requests in each autocannon list (repeated when a run sends more). */
  listLength: quick ? 2_000 : 40_000,
  mix: { home: 0.6, user: 0.3, compose: 0.1 },
};
const FORM = 'application/x-www-form-urlencoded';
/** The origin DSB's scripts write into every request line. */
const SCRIPT_ORIGIN = 'http://localhost:8080';
const log = (line: string) => console.log(line);

type Random = () => number;
/** Lua's math.random(lo, hi): an integer in [lo, hi]. */
const between = (random: Random, lo: number, hi: number) =>
  lo + Math.floor(random() * (hi - lo + 1));
const CHARSET = 'qwertyuiopasdfghjklzxcvbnmQWERTYUIOPASDFGHJKLZXCVBNM1234567890';
const chars = (random: Random, n: number, set = CHARSET) =>
  Array.from({ length: n }, () => set[Math.floor(random() * set.length)]).join('');

/** A standard normal draw (Box-Muller). */
const gaussian = (random: Random) =>
  Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

/**
 * An undirected graph on users 0..n-1 with about n × mean / 2 distinct edges (Chung-Lu: both
 * ends drawn in proportion to log-normal weights, no self-loops, no duplicates).
 */
function socfbLikeGraph(n: number, mean: number, random: Random): [number, number][] {
  const weights = Array.from({ length: n }, () => Math.exp(P.sigma * gaussian(random)));
  const cumulative: number[] = [];
  let total = 0;
  for (const w of weights) cumulative.push((total += w));
  const pick = () => {
    const x = random() * total;
    let [lo, hi] = [0, n - 1];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const target = Math.min(Math.round((n * mean) / 2), (n * (n - 1)) / 2);
  const seen = new Set<number>();
  const edges: [number, number][] = [];
  for (let tries = 0; edges.length < target && tries < target * 50; tries++) {
    const [a, b] = [pick(), pick()];
    const key = a < b ? a * n + b : b * n + a;
    if (a === b || seen.has(key)) continue;
    seen.add(key);
    edges.push([a, b]);
  }
  return edges;
}

function degreeStats(n: number, edges: readonly [number, number][]) {
  const degree = new Array<number>(n).fill(0);
  for (const [a, b] of edges) {
    degree[a]!++;
    degree[b]!++;
  }
  const sorted = [...degree].sort((x, y) => x - y);
  return {
    edges: edges.length,
    follows: edges.length * 2,
    mean: (2 * edges.length) / n,
    min: sorted[0]!,
    median: median(sorted),
    p90: sorted[Math.floor(0.9 * (n - 1))]!,
    max: sorted.at(-1)!,
  };
}

/** A compose request as init_social_graph.py builds it (its form is encoded by aiohttp). */
function loaderPost(user: number, n: number, random: Random): string {
  let body = chars(random, 256);
  for (let i = between(random, 0, 5); i > 0; i--) body += ` @username_${between(random, 0, n - 1)}`;
  for (let i = between(random, 0, 5); i > 0; i--)
    body += ` http://${chars(random, 64, 'abcdefghijklmnopqrstuvwxyz0123456789')}`;
  const media = Array.from(
    { length: between(random, 0, 5) },
    () => `"${chars(random, 18, '0123456789')}"`,
  );
  return new URLSearchParams({
    username: `username_${user}`,
    user_id: `${user}`,
    text: body,
    media_ids: `[${media.join(',')}]`,
    media_types: `[${media.map(() => '"png"').join(',')}]`,
    post_type: '0',
  }).toString();
}

/** The three requests of mixed-workload.lua, unencoded, with its absolute URLs. */
function scriptRequests(maxUserIndex: number, random: Random) {
  const read = (kind: 'home' | 'user'): RequestTemplate => {
    const userId = between(random, 1, maxUserIndex);
    const start = between(random, 0, 100);
    return {
      method: 'GET',
      path: `${SCRIPT_ORIGIN}/wrk2-api/${kind}-timeline/read?user_id=${userId}&start=${start}&stop=${start + 10}`,
    };
  };
  const compose = (): RequestTemplate => {
    const user = between(random, 1, maxUserIndex);
    let body = chars(random, 256);
    // `for i = 0, n` runs n + 1 times: 1-6 mentions, 1-6 urls, 1-5 media.
    for (let i = between(random, 0, 5); i >= 0; i--) {
      let mentioned: number;
      do mentioned = between(random, 1, maxUserIndex);
      while (mentioned === user);
      body += ` @username_${mentioned}`;
    }
    for (let i = between(random, 0, 5); i >= 0; i--) body += ` http://${chars(random, 64)}`;
    const media = Array.from({ length: between(random, 0, 4) + 1 }, () =>
      chars(random, 18, '1234567890'),
    );
    return {
      method: 'POST',
      path: `${SCRIPT_ORIGIN}/wrk2-api/post/compose`,
      contentType: FORM,
      body:
        `username=username_${user}&user_id=${user}&text=${body}` +
        `&media_ids=[${media.map((m) => `"${m}"`).join(',')}]` +
        `&media_types=[${media.map(() => '"png"').join(',')}]&post_type=0`,
    };
  };
  return { home: () => read('home'), user: () => read('user'), compose };
}

type Kind = 'mix' | 'home' | 'user' | 'compose';
const LABELS: Record<Kind, string> = {
  mix: 'Mixed workload (60 % home-timeline reads, 30 % user-timeline reads, 10 % compose)',
  home: 'Home-timeline reads (read-home-timeline.lua)',
  user: 'User-timeline reads (read-user-timeline.lua)',
  compose: 'Compose post (compose-post.lua)',
};

function requestLists(maxUserIndex: number): Record<Kind, RequestTemplate[]> {
  const make = (
    seed: number,
    draw: (r: ReturnType<typeof scriptRequests>, coin: number) => RequestTemplate,
  ) => {
    const random = prng(seed);
    const r = scriptRequests(maxUserIndex, random);
    return Array.from({ length: P.listLength }, () => draw(r, random()));
  };
  return {
    mix: make(P.seed + 1, (r, coin) =>
      coin < P.mix.home ? r.home() : coin < P.mix.home + P.mix.user ? r.user() : r.compose(),
    ),
    home: make(P.seed + 2, (r) => r.home()),
    user: make(P.seed + 3, (r) => r.user()),
    compose: make(P.seed + 4, (r) => r.compose()),
  };
}

/**
 * One loader request (a form POST, or a GET); returns the body. 503s (load shedding while the
 * loader floods kith) are retried for up to 30 s; any other failure throws.
 */
async function call(kith: KithUnderTest, path: string, form?: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(kith.url + path, {
      method: form === undefined ? 'GET' : 'POST',
      headers: { 'content-type': FORM },
      ...(form === undefined ? {} : { body: form }),
    });
    const body = await res.text();
    if (res.ok) return body;
    if (res.status !== 503 || Date.now() > deadline)
      throw new Error(`${path} ${form?.slice(0, 80) ?? ''}: ${res.status} ${body}`);
    await delay(250);
  }
}

/** Runs `fn` over `items` with at most `width` in flight. */
async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

async function loadGraph(kith: KithUnderTest) {
  const n = P.users;
  const random = prng(P.seed);
  const edges = socfbLikeGraph(n, P.meanDegree, random);
  const users = Array.from({ length: n }, (_, i) => i);
  const seconds: Record<string, number> = {};
  const timed = async (what: string, fn: () => Promise<void>) => {
    const t = performance.now();
    await fn();
    const elapsed = (seconds[what] = (performance.now() - t) / 1000);
    log(`${what}: ${fmt(elapsed, 1)} s`);
  };
  await timed('register', () =>
    pool(users, P.parallel, (i) =>
      call(
        kith,
        '/wrk2-api/user/register',
        new URLSearchParams({
          first_name: `first_name_${i}`,
          last_name: `last_name_${i}`,
          username: `username_${i}`,
          password: `password_${i}`,
          user_id: `${i}`,
        }).toString(),
      ),
    ),
  );
  const follows = edges.flatMap(([a, b]) => [
    [a, b],
    [b, a],
  ]);
  await timed('follow', () =>
    pool(follows, P.parallel, ([a, b]) =>
      call(kith, '/wrk2-api/user/follow', `user_name=username_${a}&followee_name=username_${b}`),
    ),
  );
  const posts = users.flatMap((u) =>
    Array.from({ length: between(random, 0, P.postsMax) }, () => loaderPost(u, n, random)),
  );
  await timed('compose', () =>
    pool(posts, P.parallel, (form) => call(kith, '/wrk2-api/post/compose', form)),
  );
  await timed('fan-out drained', () => drain(kith.ctx, 600_000));
  let inTimelines = 0;
  await timed('home timelines read once', () =>
    pool(users, P.parallel, async (u) => {
      const body = await call(kith, `/wrk2-api/home-timeline/read?user_id=${u}&start=0&stop=10`);
      inTimelines += (JSON.parse(body) as unknown[]).length;
    }),
  );
  return { graph: degreeStats(n, edges), posts: posts.length, inTimelines, seconds };
}

async function baseline(): Promise<LoadResult> {
  const server = await startBaseline();
  try {
    const opts = { url: server.url, path: '/', connections: P.connections };
    if (P.warmup > 0) await runLoad({ ...opts, duration: P.warmup });
    return await runLoad({ ...opts, duration: P.duration });
  } finally {
    await server.close();
  }
}

async function run(kith: KithUnderTest, kind: Kind, requests: RequestTemplate[]) {
  const opts = {
    url: kith.url,
    connections: P.connections,
    headers: { 'content-type': FORM },
    requests,
  };
  if (P.warmup > 0) await runLoad({ ...opts, duration: P.warmup });
  const load = await runLoad({ ...opts, duration: P.duration });
  const t = performance.now();
  await drain(kith.ctx, 600_000);
  const drainSeconds = (performance.now() - t) / 1000;
  log(
    `${LABELS[kind]}: ${fmt(okPerSec(load))} req/s (2xx), p50 ${fmt(load.latencyP50, 1)} ms, p99 ${fmt(load.latencyP99, 1)} ms, ` +
      `${load.non2xx} non-2xx, ${load.errors + load.timeouts} socket errors; drained in ${fmt(drainSeconds, 1)} s`,
  );
  return { load, drainSeconds };
}

type Loaded = Awaited<ReturnType<typeof loadGraph>>;
type Runs = Record<Kind, Awaited<ReturnType<typeof run>>>;

function report(loaded: Loaded, runs: Runs, base: { before: LoadResult; after: LoadResult }) {
  const baseRps = (base.before.requestsPerSec + base.after.requestsPerSec) / 2;
  const g = loaded.graph;
  const row = (label: string, r: LoadResult, drained: string) => [
    label,
    fmt(okPerSec(r)),
    fmt(r.latencyP50, 1),
    fmt(r.latencyP99, 1),
    fmt(r.non2xx),
    fmt(r.errors + r.timeouts),
    pct(okPerSec(r) / baseRps),
    drained,
  ];
  const kinds = Object.keys(runs) as Kind[];
  const statuses = kinds
    .map(
      (k) =>
        `${k}: ${Object.entries(runs[k].load.statusCodes ?? {})
          .map(([c, v]) => `${c} × ${fmt(v)}`)
          .join(', ')}`,
    )
    .join('; ');
  const markdown = [
    '## DeathStarBench social-network workload',
    '',
    `Graph: ${fmt(P.users)} users, generated here with a socfb-like degree distribution (Chung-Lu, log-normal weights, σ = ${P.sigma}; ` +
      `socfb graphs cannot be downloaded in this environment): ${fmt(g.edges)} friendships, degree mean ${fmt(g.mean, 1)}, ` +
      `min ${g.min}, median ${fmt(g.median)}, 90th percentile ${g.p90}, max ${g.max}. ` +
      `Loaded through \`/wrk2-api/\` as init_social_graph.py does: ${fmt(P.users)} registrations ` +
      `(bcrypt cost 10) in ${fmt(loaded.seconds.register!, 1)} s, ${fmt(g.follows)} follows (each edge both ways) in ${fmt(loaded.seconds.follow!, 1)} s, ` +
      `${fmt(loaded.posts)} posts (0-${P.postsMax} per user) in ${fmt(loaded.seconds.compose!, 1)} s, fan-out drained ${fmt(loaded.seconds['fan-out drained']!, 1)} s later; ` +
      `every home timeline read once (${fmt(loaded.inTimelines)} posts in their first windows).`,
    '',
    `Requests as mixed-workload.lua builds them (absolute URL in the request line, unencoded form bodies, a form content type on GETs; ` +
      `user ids 1-${P.users - 1}, windows [start, start + 10) with start 0-100), ${fmt(P.listLength)} per list, from a fixed seed. ` +
      `autocannon in a separate process, ${P.connections} connections, ${P.duration} s per run after a ${P.warmup} s warm-up. ` +
      `"Drained": seconds after the run until the worker had handled every event (fan-out, notifications of mentions). ` +
      `Baseline: node:http with a fixed JSON body, same settings, before the first run and after the last; ` +
      `"Of baseline" compares 2xx req/s with their mean (${fmt(baseRps)} req/s).`,
    '',
    table(
      [
        'Run',
        'Req/s (2xx)',
        'p50 (ms)',
        'p99 (ms)',
        'Non-2xx',
        'Socket errors',
        'Of baseline',
        'Drained (s)',
      ],
      [
        row('node:http, fixed JSON (baseline, before)', base.before, '—'),
        ...kinds.map((k) => row(LABELS[k], runs[k].load, fmt(runs[k].drainSeconds, 1))),
        row('node:http, fixed JSON (baseline, after)', base.after, '—'),
      ],
    ),
    '',
    `Status codes: ${statuses}.`,
    '',
  ].join('\n');
  const figures = [
    loadFigure('dsb.baseline', 'node:http, fixed JSON (baseline, mean of before and after)', {
      ...base.before,
      requestsPerSec: baseRps,
      latencyP50: (base.before.latencyP50 + base.after.latencyP50) / 2,
      latencyP99: Math.max(base.before.latencyP99, base.after.latencyP99),
    }),
    ...kinds.map((k) => loadFigure(`dsb.${k}`, LABELS[k], runs[k].load, baseRps)),
  ];
  return { markdown, figures };
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const kind = wantsReal(process.argv) ? 'real' : 'embedded';
  const busy = busyWarning(machine);
  log(`# kith DeathStarBench benchmark (${kind})\n\nMachine: ${machineLine(machine)}`);
  if (busy) log(busy);
  const kith = await startKith(kind, { DSB_COMPAT: 'true' });
  const interrupt = () => void kith.stop().finally(() => process.exit(130));
  process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
  try {
    log(`Stack: ${kith.description}\n`);
    const t = performance.now();
    const loaded = await loadGraph(kith);
    const loadSeconds = (performance.now() - t) / 1000;
    const lists = requestLists(P.users - 1);
    const before = await baseline();
    log(`Baseline (before): ${fmt(before.requestsPerSec)} req/s`);
    const runs = {} as Runs;
    for (const k of Object.keys(lists) as Kind[]) runs[k] = await run(kith, k, lists[k]);
    const after = await baseline();
    log(`Baseline (after): ${fmt(after.requestsPerSec)} req/s`);
    const { markdown: body, figures } = report(loaded, runs, { before, after });
    const totalSeconds = (performance.now() - started) / 1000;
    const settings = Object.entries(kith.settings).map(([k, v]) => `${k}=${v}`);
    const markdown = [
      `# kith DeathStarBench benchmark (${kind})`,
      '',
      `- Machine: ${machineLine(machine)}`,
      `- Stack: ${kith.description}`,
      `- Settings: ${settings.join(', ')}`,
      `- Date: ${new Date().toISOString()}; whole run ${fmt(totalSeconds)} s (loading the graph ${fmt(loadSeconds, 1)} s)`,
      ...(busy ? [`- ${busy}`] : []),
      '',
      body,
    ].join('\n');
    log('\n' + markdown);
    writeResults(`dsb-${kind}`, markdown, {
      name: 'dsb',
      date: new Date().toISOString(),
      machine,
      stack: { kind, description: kith.description, settings: kith.settings },
      parameters: { ...P, quick },
      loading: { ...loaded, totalSeconds: loadSeconds },
      totalSeconds,
      baseline: { before, after },
      runs,
      figures,
    });
  } finally {
    await kith.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
