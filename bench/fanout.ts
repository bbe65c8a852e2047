/**
 * `npm run bench:fanout [-- --real]`: fan-out under compose load, alone (issue 18). Loads a
 * clustered graph through the DeathStarBench routes (every user reads their home timeline once,
 * so fan-out writes to it), then composes DSB posts (1-6 mentions each) at a fixed rate and
 * samples, every second, where the events wait: outbox rows not yet relayed, posts whose
 * fan-out has not completed, and each consumer group's events not yet handled. Prints the
 * fan-out lag of those posts (kith_feed_fanout_lag_seconds) and the backlog `--settle` seconds
 * after the load. Shorter than bench:dsb's sustained phase, and with the worker in view.
 *
 * Options: --users (300) --degree (39) --posts-max (2) --rate (200) --sustain (20 s)
 * --settle (5 s), --cpu-prof <file>: a V8 CPU profile of this process (api and worker) during
 * the sustained phase only, and --pg: samples Postgres's active statements (pg_stat_activity)
 * every 50 ms during it and prints the commonest.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { drain } from '../test/support/drain.ts';
import type { Context } from '../src/app/context.ts';
import { FORM, scriptRequests } from './dsb-requests.ts';
import { buildGraph, describeGraph, GRAPH_ARGS, graphPlan, graphStats } from './graphs/graph.ts';
import { backlogNow, lagBetween, lagSnapshot } from './graphs/lag.ts';
import { dsbCall, LOAD_PARALLEL, loadThroughDsb, pool } from './graphs/load.ts';
import { loaderPosts } from './graphs/posts.ts';
import {
  cleanUp,
  fmt,
  machineInfo,
  machineLine,
  numberOption,
  onInterrupt,
  runLoad,
} from './lib.ts';
import { prng } from './seed.ts';
import { startKith, wantsReal } from './stack.ts';

const text = { type: 'string' } as const;
const { values } = parseArgs({
  options: {
    real: { type: 'boolean' },
    rate: text,
    sustain: text,
    settle: text,
    'cpu-prof': text,
    pg: { type: 'boolean' },
    ...GRAPH_ARGS,
  },
});
const plan = graphPlan({ users: '300', degree: '39', 'posts-max': '2', ...values }, false);
const P = {
  rate: numberOption(values, 'rate', 200),
  sustain: numberOption(values, 'sustain', 20),
  settle: numberOption(values, 'settle', 5),
};

/** Where the events are at one moment. */
async function sample(ctx: Context) {
  const [outbox, fanout, waiting] = await Promise.all([
    ctx.relay.backlog(),
    sql<{ n: number }>`select count(*)::int as n from posts where fanout_pending`.execute(
      ctx.database.db,
    ),
    perGroup(ctx),
  ]);
  return {
    unrelayed: outbox.count,
    fanoutPending: fanout.rows[0]!.n,
    waiting,
    pool: ctx.database.pool(),
  };
}

/** Events each consumer group has not handled yet (published or not). */
async function perGroup(ctx: Context): Promise<Record<string, number>> {
  const handled = (await ctx.metrics.consumerEvents.get()).values;
  const out: Record<string, number> = {};
  for (const c of ctx.consumers) {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from outbox where type = any(${[...c.types]}::text[])`.execute(
      ctx.database.db,
    );
    const done = handled
      .filter((v) => v.labels.group === c.group && v.labels.outcome !== 'retried')
      .reduce((sum, v) => sum + v.value, 0);
    const left = rows[0]!.n - done;
    if (left > 0) out[c.group] = left;
  }
  return out;
}

/** Samples pg_stat_activity until `stop` resolves: the statements seen running, by count. */
async function samplePostgres(ctx: Context, stop: Promise<unknown>) {
  const seen = new Map<string, number>();
  let samples = 0;
  let done = false;
  void stop.then(() => (done = true));
  while (!done) {
    const { rows } = await sql<{ q: string; w: string | null }>`
      select left(regexp_replace(query, '\\s+', ' ', 'g'), 110) as q, wait_event as w
      from pg_stat_activity
      where datname = current_database() and state = 'active' and pid <> pg_backend_pid()`.execute(
      ctx.database.db,
    );
    samples++;
    for (const r of rows) {
      const key = `${r.w ?? 'cpu'} | ${r.q}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    await delay(50);
  }
  return { samples, seen: [...seen].sort((a, b) => b[1] - a[1]).slice(0, 25) };
}

async function main() {
  const kind = wantsReal(process.argv) ? 'real' : 'embedded';
  console.log(`# Fan-out under compose load (${kind})\n\nMachine: ${machineLine(machineInfo())}`);
  const kith = await startKith(kind, { DSB_COMPAT: 'true' });
  onInterrupt(() => kith.stop());
  try {
    const graph = buildGraph(plan.name, plan);
    console.log(describeGraph(graph, graphStats(graph)));
    const loaded = await loadThroughDsb(kith, graph, loaderPosts(graph.users, plan.postsMax, 18));
    console.log(
      `Loaded ${loaded.posts} posts at ${fmt(loaded.composePerSec)}/s, drained in ${fmt(loaded.seconds['fan-out drained']!, 1)} s`,
    );
    const users = Array.from({ length: graph.users }, (_, u) => u);
    await pool(users, LOAD_PARALLEL, (u) =>
      dsbCall(kith, `/wrk2-api/home-timeline/read?user_id=${u}&start=0&stop=10`),
    );
    await drain(kith.ctx, 600_000);

    const r = scriptRequests(graph.users - 1, prng(98 + 5));
    const requests = Array.from({ length: Math.ceil(P.rate * P.sustain) + 100 }, r.compose);
    const before = await lagSnapshot(kith.ctx);
    const profile = values['cpu-prof'];
    const session = profile ? new Session() : undefined;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 500 });
      await session.post('Profiler.start');
    }
    const t0 = performance.now();
    const load = runLoad({
      url: kith.url,
      connections: 64,
      headers: { 'content-type': FORM },
      requests,
      overallRate: P.rate,
      duration: P.sustain,
    });
    const pg = values.pg ? samplePostgres(kith.ctx, load) : undefined;
    const sampler = (async () => {
      let finished = false;
      void load.finally(() => (finished = true));
      while (!finished) {
        await delay(2_000);
        const s = await sample(kith.ctx);
        const t = (performance.now() - t0) / 1000;
        console.log(
          `t=${fmt(t, 0)} s: unrelayed ${s.unrelayed}, fan-out pending ${s.fanoutPending}, waiting ${JSON.stringify(s.waiting)}, pool ${JSON.stringify(s.pool)}`,
        );
      }
    })();
    const result = await load;
    await sampler;
    if (session) {
      const { profile: cpu } = await session.post('Profiler.stop');
      writeFileSync(profile!, JSON.stringify(cpu));
      session.disconnect();
      console.log(`CPU profile written to ${profile}`);
    }
    const top = await pg;
    await delay(P.settle * 1000);
    const after = await sample(kith.ctx);
    const backlog = await backlogNow(kith.ctx);
    const t = performance.now();
    await drain(kith.ctx, 600_000);
    const drainSeconds = (performance.now() - t) / 1000;
    const lag = lagBetween(before, await lagSnapshot(kith.ctx));
    console.log(
      `\nCompose at ${P.rate}/s for ${P.sustain} s: ${fmt(result.ok / P.sustain)} 2xx/s, ${result.non2xx} non-2xx, ` +
        `p50 ${fmt(result.latencyP50, 1)} ms, p99 ${fmt(result.latencyP99, 1)} ms`,
    );
    console.log(
      `Fan-out lag of ${lag.posts} posts: p50 ${fmt(lag.p50Ms)} ms, p99 ${fmt(lag.p99Ms)} ms, mean ${fmt(lag.meanMs)} ms`,
    );
    console.log(
      `${P.settle} s after: ${backlog} events waiting (unrelayed ${after.unrelayed}, fan-out pending ${after.fanoutPending}, ` +
        `${JSON.stringify(after.waiting)}); drained ${fmt(drainSeconds, 1)} s later`,
    );
    if (top) {
      console.log(`\nPostgres, ${top.samples} samples of active statements (wait event | query):`);
      for (const [q, n] of top.seen) console.log(`${String(n).padStart(6)}  ${q}`);
    }
  } finally {
    await cleanUp(() => kith.stop());
  }
}

await main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
process.exit();
