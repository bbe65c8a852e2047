/**
 * `npm run bench:home [-- --real] [--quick] [--graph seed|clustered]`: kith's own home feed and
 * compose on a social graph (issue 18), loaded the way a client would.
 *
 * The graph (bench/graphs: `clustered` by default, or `seed`) is loaded through kith's API, 64
 * requests at a time: every user registers and logs in, follows along the graph, and composes
 * 0-20 posts like DeathStarBench's loader; the load time and the fan-out lag of those posts are
 * recorded. Every home timeline is then read once. autocannon (another process) loads
 * GET /api/v1/feed?limit=20 as every user in turn (20 hydrated posts), then POST /api/v1/posts
 * as every user in turn (fan-out to each author's followers, about 39 on the clustered graph).
 * The baseline, a bare node:http server, is loaded the same way before and after.
 * Options: --graph --users --degree --posts-max --duration --warmup --connections --quick.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { drain } from '../test/support/drain.ts';
import type { RequestTemplate } from './autocannon-runner.ts';
import { buildGraph, describeGraph, GRAPH_ARGS, graphPlan, graphStats } from './graphs/graph.ts';
import { LOAD_PARALLEL, loadThroughApi, pool } from './graphs/load.ts';
import { loaderPosts } from './graphs/posts.ts';
import {
  apiCall,
  busyWarning,
  cleanUp,
  fmt,
  loadFigure,
  machineInfo,
  machineLine,
  measureLoad,
  numberOption,
  onInterrupt,
  pct,
  okPerSec,
  startBaseline,
  table,
  writeResults,
  type Figure,
  type LoadResult,
} from './lib.ts';
import { startKith, wantsReal, type KithUnderTest } from './stack.ts';

const text = { type: 'string' } as const;
const { values } = parseArgs({
  options: {
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    duration: text,
    warmup: text,
    connections: text,
    ...GRAPH_ARGS,
  },
});
const quick = values.quick === true;
const plan = graphPlan(values, quick);
const P = {
  duration: numberOption(values, 'duration', quick ? 2 : 10),
  warmup: numberOption(values, 'warmup', quick ? 1 : 3),
  connections: numberOption(values, 'connections', quick ? 10 : 50),
  pageSize: 20,
};
const FEED_PATH = `/api/v1/feed?limit=${P.pageSize}`;
/** The same home timeline through the Mastodon API (issue 19: within 20 % of kith's feed). */
const MASTODON_HOME_PATH = `/api/v1/timelines/home?limit=${P.pageSize}`;
/** Registration and login of every user come from one IP, like a loader's. */
const KITH_ENV = { RATE_LIMIT_AUTH_PER_IP: '1000000' };
const log = (line: string) => console.log(line);

async function baseline(): Promise<LoadResult> {
  const server = await startBaseline();
  try {
    return await measureLoad(
      { url: server.url, path: '/', connections: P.connections, duration: P.duration },
      P.warmup,
    );
  } finally {
    await server.close();
  }
}

/** Two runs of equal length as one: counts added, rates averaged, latencies the worse. */
function joined(a: LoadResult, b: LoadResult): LoadResult {
  return {
    ...a,
    requestsPerSec: (a.requestsPerSec + b.requestsPerSec) / 2,
    totalRequests: a.totalRequests + b.totalRequests,
    ok: a.ok + b.ok,
    statusCodes: Object.fromEntries(
      [...new Set([...Object.keys(a.statusCodes), ...Object.keys(b.statusCodes)])].map((code) => [
        code,
        (a.statusCodes[code] ?? 0) + (b.statusCodes[code] ?? 0),
      ]),
    ),
    duration: a.duration + b.duration,
    non2xx: a.non2xx + b.non2xx,
    errors: a.errors + b.errors,
    timeouts: a.timeouts + b.timeouts,
    latencyP50: Math.max(a.latencyP50, b.latencyP50),
    latencyP99: Math.max(a.latencyP99, b.latencyP99),
    latencyMax: Math.max(a.latencyMax, b.latencyMax),
    bytesPerSec: (a.bytesPerSec + b.bytesPerSec) / 2,
  };
}

async function measure(kith: KithUnderTest, tokens: string[]) {
  const load = { url: kith.url, connections: P.connections, duration: P.duration };
  const reads = (path: string, duration: number) =>
    measureLoad(
      {
        ...load,
        duration,
        path,
        rotateHeaders: tokens.map((t) => ({ authorization: `Bearer ${t}` })),
      },
      P.warmup,
    );
  // kith's feed and the Mastodon home timeline in alternating halves, so the machine's mood
  // weighs on both alike.
  const half = Math.max(1, P.duration / 2);
  const read1 = await reads(FEED_PATH, half);
  const mastodon1 = await reads(MASTODON_HOME_PATH, half);
  const read2 = await reads(FEED_PATH, half);
  const mastodon2 = await reads(MASTODON_HOME_PATH, half);
  const read = joined(read1, read2);
  const mastodon = joined(mastodon1, mastodon2);
  const requests: RequestTemplate[] = Array.from({ length: 20_000 }, (_, i) => ({
    method: 'POST',
    path: '/api/v1/posts',
    token: i % tokens.length,
    body: JSON.stringify({ text: `Compose benchmark post ${i} with a fan-out to every follower.` }),
  }));
  const compose = await measureLoad({ ...load, requests, tokens }, P.warmup);
  const t = performance.now();
  await drain(kith.ctx, 600_000);
  return { read, mastodon, compose, drainSeconds: (performance.now() - t) / 1000 };
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const kind = wantsReal(process.argv) ? 'real' : 'embedded';
  const busy = busyWarning(machine);
  log(`# kith home feed on the ${plan.name} graph (${kind})\n\nMachine: ${machineLine(machine)}`);
  if (busy) log(busy);
  const kith = await startKith(kind, KITH_ENV);
  onInterrupt(() => kith.stop());
  try {
    log(`Stack: ${kith.description}\n`);
    const graph = buildGraph(plan.name, plan);
    const stats = graphStats(graph);
    log(describeGraph(graph, stats));
    const posts = loaderPosts(graph.users, plan.postsMax, plan.seed);
    const loaded = await loadThroughApi(kith, graph, posts, plan.parallel);
    log(
      `Loaded in ${fmt(loaded.totalSeconds, 1)} s; fan-out lag while loading ${fmt(loaded.composePerSec)} posts/s: ` +
        `p50 ${fmt(loaded.lag.p50Ms)} ms, p99 ${fmt(loaded.lag.p99Ms)} ms`,
    );
    let inFirstPages = 0;
    await pool(loaded.tokens, LOAD_PARALLEL, async (token) => {
      const page = await apiCall<{ items: unknown[] }>(kith.url, FEED_PATH.slice(7), {
        headers: { authorization: `Bearer ${token}` },
      });
      inFirstPages += page.items.length;
    });
    const before = await baseline();
    const runs = await measure(kith, loaded.tokens);
    const after = await baseline();
    const baseRps = (before.requestsPerSec + after.requestsPerSec) / 2;
    const g = plan.name;
    const row = (label: string, r: LoadResult) => [
      label,
      fmt(okPerSec(r)),
      fmt(r.latencyP50, 1),
      fmt(r.latencyP99, 1),
      fmt(r.non2xx + r.errors + r.timeouts),
      pct(okPerSec(r) / baseRps),
    ];
    const readLabel = `Home feed, 20 hydrated posts, ${g} graph (every user in turn)`;
    const composeLabel = `POST /api/v1/posts, fan-out to the author's followers, ${g} graph`;
    const mastodonLabel = `Mastodon home timeline (GET /api/v1/timelines/home, 20 statuses), ${g} graph`;
    const figures: Figure[] = [
      loadFigure(`home.${g}.read`, readLabel, runs.read, baseRps),
      loadFigure(`home.${g}.mastodon`, mastodonLabel, runs.mastodon, baseRps),
      {
        id: `home.${g}.mastodonvsfeed`,
        label: `Mastodon home timeline against kith's feed, ${g} graph (req/s, alternating halves)`,
        value: okPerSec(runs.mastodon) / Math.max(1e-9, okPerSec(runs.read)),
        unit: 'ratio',
      },
      loadFigure(`home.${g}.compose`, composeLabel, runs.compose, baseRps),
      {
        id: `home.${g}.load`,
        label: `Loading the ${g} graph through kith's API`,
        value: loaded.totalSeconds,
        unit: 's',
      },
      {
        id: `home.${g}.loadlag`,
        label: `Fan-out lag p99 while loading the ${g} graph (${fmt(loaded.composePerSec)} posts/s)`,
        value: loaded.lag.p99Ms,
        unit: 'ms',
        note: `p50 ${fmt(loaded.lag.p50Ms)} ms, mean ${fmt(loaded.lag.meanMs)} ms`,
      },
      {
        id: `home.${g}.clustering`,
        label: `Clustering coefficient of the ${g} graph`,
        value: stats.clustering,
        unit: 'ratio',
      },
    ];
    const totalSeconds = (performance.now() - started) / 1000;
    const markdown = [
      `# kith home feed on the ${g} graph (${kind})`,
      '',
      `- Machine: ${machineLine(machine)}`,
      `- Stack: ${kith.description}`,
      `- Date: ${new Date().toISOString()}; whole run ${fmt(totalSeconds)} s`,
      ...(busy ? [`- ${busy}`] : []),
      '',
      describeGraph(graph, stats),
      '',
      `Loaded through kith's API, ${plan.parallel} requests at a time, in ${fmt(loaded.totalSeconds, 1)} s: ` +
        Object.entries(loaded.seconds)
          .map(([k, v]) => `${k} ${fmt(v, 1)} s`)
          .join(', ') +
        ` (${fmt(graph.users)} users registered and logged in with bcrypt, ${fmt(graph.follows.length)} follows, ` +
        `${fmt(loaded.posts)} posts at ${fmt(loaded.composePerSec)} posts/s). Fan-out lag of those posts ` +
        `(kith_feed_fanout_lag_seconds, interpolated in its buckets): mean ${fmt(loaded.lag.meanMs)} ms, ` +
        `p50 ${fmt(loaded.lag.p50Ms)} ms, p99 ${fmt(loaded.lag.p99Ms)} ms. Every home timeline was read once ` +
        `(${fmt(inFirstPages)} posts in the first pages).`,
      '',
      `autocannon in a separate process, ${P.connections} connections, ${P.duration} s after a ${P.warmup} s warm-up. ` +
        `"Of baseline" compares 2xx req/s with the mean of a node:http baseline before and after (${fmt(baseRps)} req/s). ` +
        `After the compose run the worker drained in ${fmt(runs.drainSeconds, 1)} s.`,
      '',
      table(
        ['Run', 'Req/s (2xx)', 'p50 (ms)', 'p99 (ms)', 'Errors', 'Of baseline'],
        [
          row('node:http, fixed JSON (baseline, before)', before),
          row(readLabel, runs.read),
          row(mastodonLabel, runs.mastodon),
          row(composeLabel, runs.compose),
          row('node:http, fixed JSON (baseline, after)', after),
        ],
      ),
      '',
    ].join('\n');
    log('\n' + markdown);
    writeResults(`home-${g}-${kind}`, markdown, {
      name: 'home',
      graph: { name: g, ...stats },
      date: new Date().toISOString(),
      machine,
      stack: { kind, description: kith.description, settings: kith.settings },
      parameters: { ...P, plan, quick },
      loading: loaded && { ...loaded, tokens: undefined },
      totalSeconds,
      baseline: { before, after },
      runs,
      figures,
    });
  } finally {
    await cleanUp(() => kith.stop());
  }
}

await main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
process.exit();
