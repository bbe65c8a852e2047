/**
 * `npm run bench:dsb [-- --real] [--quick] [--graph seed|clustered]`: kith driven the way
 * DeathStarBench (DSB) drives its social network, through the /wrk2-api/ routes
 * (DSB_COMPAT=true), on one of the graphs of bench/graphs (issue 18).
 *
 *  1. Loading, as init_social_graph.py does (form-encoded, 64 at a time): register every user,
 *     follow along every edge of the graph by name, then compose 0-20 posts per user; each
 *     phase is timed and the fan-out lag of those posts recorded. Each user's home timeline is
 *     read once (the timelines of active users exist in kith; fan-out only writes to those).
 *  2. Load, as DSB's wrk2 scripts build requests (bench/dsb-requests.ts): the 60/30/10 mix,
 *     then each request kind alone. autocannon in another process sends the lists.
 *  3. Sustained compose at a fixed rate (200 posts/s for 60 s): the fan-out lag of those posts
 *     (kith_feed_fanout_lag_seconds) and the events still waiting 5 s after the load stops.
 *  4. A single home-timeline read (start 50, stop 60) on the idle server, sequentially.
 *
 * The baseline, a bare node:http server with a fixed JSON body, is loaded the same way before
 * and after; ratios compare with their mean. kith runs in this process (api and worker roles),
 * embedded, or on Postgres + Redis + RabbitMQ with --real (or BENCH_REAL=1).
 * Options: --graph --users --degree --posts-max --duration --warmup --connections --rate
 * --sustain <s> --idle <requests> --quick.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { drain } from '../test/support/drain.ts';
import { FORM, LABELS, requestLists, scriptRequests, type Kind } from './dsb-requests.ts';
import { dsbReport } from './dsb-report.ts';
import { buildGraph, describeGraph, GRAPH_ARGS, graphPlan, graphStats } from './graphs/graph.ts';
import { backlogNow, lagBetween, lagSnapshot } from './graphs/lag.ts';
import { dsbCall, LOAD_PARALLEL, loadThroughDsb, pool } from './graphs/load.ts';
import { loaderPosts } from './graphs/posts.ts';
import { idleReads } from './idle.ts';
import {
  busyWarning,
  cleanUp,
  fmt,
  machineInfo,
  machineLine,
  numberOption,
  okPerSec,
  onInterrupt,
  runLoad,
  startBaseline,
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
    rate: text,
    sustain: text,
    idle: text,
    ...GRAPH_ARGS,
  },
});
const quick = values.quick === true;
const plan = graphPlan(values, quick);
const P = {
  duration: numberOption(values, 'duration', quick ? 2 : 10),
  warmup: numberOption(values, 'warmup', quick ? 1 : 3),
  connections: numberOption(values, 'connections', quick ? 10 : 50),
  seed: 98,
  /** Requests in each autocannon list (repeated when a run sends more). */
  listLength: quick ? 2_000 : 40_000,
  /** Sustained compose: posts per second, for `sustainSeconds`, then `settleSeconds` idle. */
  rate: numberOption(values, 'rate', quick ? 20 : 200),
  sustainSeconds: numberOption(values, 'sustain', quick ? 3 : 60),
  settleSeconds: 5,
  /** Sequential home-timeline reads on the idle server. */
  idleReads: numberOption(values, 'idle', quick ? 100 : 2_000),
};
const log = (line: string) => console.log(line);

async function loadGraph(kith: KithUnderTest) {
  const graph = buildGraph(plan.name, plan);
  const stats = graphStats(graph);
  log(describeGraph(graph, stats));
  const posts = loaderPosts(graph.users, plan.postsMax, plan.seed);
  const loaded = await loadThroughDsb(kith, graph, posts, plan.parallel);
  let inTimelines = 0;
  await pool(
    Array.from({ length: graph.users }, (_, u) => u),
    LOAD_PARALLEL,
    async (u) => {
      const body = await dsbCall(kith, `/wrk2-api/home-timeline/read?user_id=${u}&start=0&stop=10`);
      inTimelines += (JSON.parse(body) as unknown[]).length;
    },
  );
  return { graph, stats, loaded, inTimelines };
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

async function run(
  kith: KithUnderTest,
  kind: Kind,
  requests: ReturnType<typeof requestLists>[Kind],
) {
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

/** Compose at a fixed rate (open loop), then the lag of those posts and the backlog after. */
async function sustained(kith: KithUnderTest, maxUserIndex: number) {
  const r = scriptRequests(maxUserIndex, prng(P.seed + 5));
  const requests = Array.from({ length: Math.ceil(P.rate * P.sustainSeconds) + 100 }, r.compose);
  const before = await lagSnapshot(kith.ctx);
  const load = await runLoad({
    url: kith.url,
    connections: Math.max(P.connections, 64),
    headers: { 'content-type': FORM },
    requests,
    overallRate: P.rate,
    duration: P.sustainSeconds,
  });
  await delay(P.settleSeconds * 1000);
  const backlog = await backlogNow(kith.ctx);
  await drain(kith.ctx, 600_000);
  const lag = lagBetween(before, await lagSnapshot(kith.ctx));
  log(
    `Sustained compose at ${P.rate}/s for ${P.sustainSeconds} s: ${fmt(okPerSec(load))} req/s (2xx), ` +
      `lag p50 ${fmt(lag.p50Ms)} ms, p99 ${fmt(lag.p99Ms)} ms; ${backlog} events waiting ${P.settleSeconds} s after`,
  );
  return { load, lag, backlog };
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const kind = wantsReal(process.argv) ? 'real' : 'embedded';
  const busy = busyWarning(machine);
  log(
    `# kith DeathStarBench benchmark, ${plan.name} graph (${kind})\n\nMachine: ${machineLine(machine)}`,
  );
  if (busy) log(busy);
  const kith = await startKith(kind, { DSB_COMPAT: 'true' });
  onInterrupt(() => kith.stop());
  try {
    log(`Stack: ${kith.description}\n`);
    const t = performance.now();
    const loaded = await loadGraph(kith);
    const loadSeconds = (performance.now() - t) / 1000;
    const maxUserIndex = plan.users - 1;
    const idle = await idleReads(kith.url, maxUserIndex, P.idleReads, prng(P.seed + 6));
    log(
      `Idle single home-timeline read: p50 ${fmt(idle.p50Ms, 2)} ms, p99 ${fmt(idle.p99Ms, 2)} ms`,
    );
    const lists = requestLists(maxUserIndex, P.listLength, P.seed);
    const before = await baseline();
    log(`Baseline (before): ${fmt(before.requestsPerSec)} req/s`);
    const runs = {} as Record<Kind, Awaited<ReturnType<typeof run>>>;
    for (const k of Object.keys(lists) as Kind[]) runs[k] = await run(kith, k, lists[k]);
    const after = await baseline();
    log(`Baseline (after): ${fmt(after.requestsPerSec)} req/s`);
    const steady = await sustained(kith, maxUserIndex);
    const { markdown: body, figures } = dsbReport({
      plan,
      ...loaded,
      runs,
      base: { before, after },
      steady,
      idle,
      P,
    });
    const totalSeconds = (performance.now() - started) / 1000;
    const settings = Object.entries(kith.settings).map(([k, v]) => `${k}=${v}`);
    const markdown = [
      `# kith DeathStarBench benchmark, ${plan.name} graph (${kind})`,
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
    writeResults(`dsb-${plan.name}-${kind}`, markdown, {
      name: 'dsb',
      graph: { name: plan.name, ...loaded.stats },
      date: new Date().toISOString(),
      machine,
      stack: { kind, description: kith.description, settings: kith.settings },
      parameters: { ...P, plan, quick },
      loading: { ...loaded.loaded, inTimelines: loaded.inTimelines, totalSeconds: loadSeconds },
      totalSeconds,
      baseline: { before, after },
      runs,
      sustained: steady,
      idle,
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
