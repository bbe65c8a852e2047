/**
 * The results of bench/dsb.ts on one graph: the Markdown section and the figures the summary
 * reads (ids `dsb.<graph>.<what>`).
 */
import { LABELS, type Kind } from './dsb-requests.ts';
import { describeGraph, type Graph, type GraphPlan, type GraphStats } from './graphs/graph.ts';
import type { LagStats } from './graphs/lag.ts';
import type { Loaded } from './graphs/load.ts';
import type { IdleReads } from './idle.ts';
import { fmt, loadFigure, okPerSec, pct, table, type Figure, type LoadResult } from './lib.ts';

export interface DsbOutcome {
  plan: GraphPlan;
  graph: Graph;
  stats: GraphStats;
  loaded: Loaded;
  inTimelines: number;
  runs: Record<Kind, { load: LoadResult; drainSeconds: number }>;
  base: { before: LoadResult; after: LoadResult };
  steady: { load: LoadResult; lag: LagStats; backlog: number };
  idle: IdleReads;
  P: {
    connections: number;
    duration: number;
    warmup: number;
    listLength: number;
    rate: number;
    sustainSeconds: number;
    settleSeconds: number;
  };
}

export function dsbReport(o: DsbOutcome): { markdown: string; figures: Figure[] } {
  const { base, runs, loaded, steady, idle, P } = o;
  const g = o.plan.name;
  const baseRps = (base.before.requestsPerSec + base.after.requestsPerSec) / 2;
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
  const s = loaded.seconds;
  const sustainedLabel = `Sustained compose, ${fmt(P.rate)} posts/s for ${fmt(P.sustainSeconds)} s (${g} graph)`;
  const markdown = [
    '## DeathStarBench social-network workload',
    '',
    describeGraph(o.graph, o.stats),
    '',
    `Loaded through \`/wrk2-api/\` as init_social_graph.py does, ${o.plan.parallel} requests at a time, in ${fmt(loaded.totalSeconds, 1)} s: ` +
      `${fmt(o.graph.users)} registrations (bcrypt cost 10) in ${fmt(s.register!, 1)} s, ${fmt(o.graph.follows.length)} follows in ${fmt(s.follow!, 1)} s, ` +
      `${fmt(loaded.posts)} posts (0-${o.plan.postsMax} per user) in ${fmt(s.compose!, 1)} s (${fmt(loaded.composePerSec)} posts/s), ` +
      `fan-out drained ${fmt(s['fan-out drained']!, 1)} s later. Fan-out lag of those posts (kith_feed_fanout_lag_seconds, ` +
      `interpolated in its buckets): mean ${fmt(loaded.lag.meanMs)} ms, p50 ${fmt(loaded.lag.p50Ms)} ms, p99 ${fmt(loaded.lag.p99Ms)} ms. ` +
      `Every home timeline read once (${fmt(o.inTimelines)} posts in their first windows).`,
    '',
    `Requests as mixed-workload.lua builds them (user ids 1-${o.plan.users - 1}, windows [start, start + 10) with start 0-100), ` +
      `${fmt(P.listLength)} per list, from a fixed seed. autocannon in a separate process, ${P.connections} connections, ` +
      `${P.duration} s per run after a ${P.warmup} s warm-up. "Drained": seconds after the run until the worker had handled every event. ` +
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
        row(sustainedLabel, steady.load, '—'),
      ],
    ),
    '',
    `Status codes: ${statuses}.`,
    '',
    `Sustained compose (compose-post.lua's requests at a fixed rate, autocannon's overallRate): fan-out lag of those ` +
      `${fmt(steady.lag.posts)} posts p50 ${fmt(steady.lag.p50Ms)} ms, p99 ${fmt(steady.lag.p99Ms)} ms, mean ${fmt(steady.lag.meanMs)} ms; ` +
      `${fmt(steady.backlog)} events still waiting ${P.settleSeconds} s after the load stopped.`,
    '',
    `A single home-timeline read (start 50, stop 60) on the idle server, ${fmt(idle.requests)} sequential requests: ` +
      `p50 ${fmt(idle.p50Ms, 2)} ms, p99 ${fmt(idle.p99Ms, 2)} ms, max ${fmt(idle.maxMs, 1)} ms, ${idle.errors} errors.`,
    '',
  ].join('\n');
  const id = (what: string) => `dsb.${g}.${what}`;
  const figures: Figure[] = [
    loadFigure(
      id('baseline'),
      `node:http, fixed JSON (baseline, mean of before and after; dsb on ${g})`,
      {
        ...base.before,
        requestsPerSec: baseRps,
        latencyP50: (base.before.latencyP50 + base.after.latencyP50) / 2,
        latencyP99: Math.max(base.before.latencyP99, base.after.latencyP99),
      },
    ),
    ...kinds.map((k) => loadFigure(id(k), `${LABELS[k]}, ${g} graph`, runs[k].load, baseRps)),
    loadFigure(id('sustained'), sustainedLabel, steady.load, baseRps),
    {
      id: id('sustained.lag'),
      label: `Fan-out lag p99 at ${fmt(P.rate)} posts/s (${g} graph)`,
      value: steady.lag.p99Ms,
      p50Ms: steady.lag.p50Ms,
      unit: 'ms',
      note: `p50 ${fmt(steady.lag.p50Ms)} ms over ${fmt(steady.lag.posts)} posts`,
    },
    {
      id: id('backlog'),
      label: `Events waiting ${P.settleSeconds} s after the sustained load (${g} graph)`,
      value: steady.backlog,
      unit: 'events',
    },
    {
      id: id('idle'),
      label: `Single home-timeline read on an idle server, p99 (${g} graph)`,
      value: idle.p99Ms,
      p50Ms: idle.p50Ms,
      requests: idle.requests,
      errors: idle.errors,
      unit: 'ms',
    },
    {
      id: id('load'),
      label: `Loading the ${g} graph through /wrk2-api/`,
      value: loaded.totalSeconds,
      unit: 's',
    },
    {
      id: id('loadlag'),
      label: `Fan-out lag p99 while loading the ${g} graph (${fmt(loaded.composePerSec)} posts/s)`,
      value: loaded.lag.p99Ms,
      unit: 'ms',
      note: `p50 ${fmt(loaded.lag.p50Ms)} ms, mean ${fmt(loaded.lag.meanMs)} ms`,
    },
    {
      id: id('clustering'),
      label: `Clustering coefficient of the ${g} graph`,
      value: o.stats.clustering,
      unit: 'ratio',
    },
  ];
  return { markdown, figures };
}
