/**
 * The performance targets of issue 10 (part 4) and of issue 18 (on the clustered graph), judged from the figures the scenarios report
 * (their `id`s). Used by bench/run.ts for the summary's "Targets" table.
 */
import { fmt, pct, type Figure } from './lib.ts';
import type { StackKind } from './stack.ts';

export interface TargetResult {
  target: string;
  stack: StackKind;
  /** The figure(s) behind the verdict, in words. */
  measured: string;
  /** Undefined: not measured in this run. */
  met?: boolean;
}

interface Target {
  /** Only judged on this stack (the target names it). */
  stack?: StackKind;
  judge(kind: StackKind, figures: readonly Figure[]): TargetResult;
}

/** At most 1 % of the requests failed (a shed or failed request must not pass for speed). */
const clean = (f: Figure) => (f.errors ?? 0) <= 0.01 * Math.max(1, f.requests ?? 0);
const errorNote = (f: Figure) => (f.errors ? `, ${fmt(f.errors)} errors` : '');
/** The client count in the delivery figure's label ("…, 1,000 clients …"). */
const clientsOf = (f: Figure) => /([\d,]+) clients/.exec(f.label)?.[1];
const ms = (n: number | undefined) => (n === undefined ? '—' : `${fmt(n, 1)} ms`);

function target(
  text: string,
  ids: readonly string[],
  verdict: (f: Figure[]) => { measured: string; met: boolean },
  stack?: StackKind,
): Target {
  return {
    ...(stack ? { stack } : {}),
    judge(kind, figures) {
      const found = ids.map((id) => figures.find((f) => f.id === id));
      if (found.some((f) => f === undefined))
        return { target: text, stack: kind, measured: `not measured (${ids.join(', ')})` };
      return { target: text, stack: kind, ...verdict(found as Figure[]) };
    },
  };
}

/**
 * How far a figure is from its target: `met by 12 %` / `short by 40 %` for a rate, `18 % under
 * the limit` / `3.2 × the limit` for a latency.
 */
function margin(value: number, goal: number, higherIsBetter: boolean): string {
  if (!Number.isFinite(value)) return 'not measured';
  if (higherIsBetter) {
    const ratio = value / goal;
    return ratio >= 1 ? `met by ${pct(ratio - 1)}` : `short by ${pct(1 - ratio)}`;
  }
  const ratio = value / goal;
  return ratio < 1 ? `${pct(1 - ratio)} under the limit` : `${fmt(ratio, 1)} × the limit`;
}
const ofBase = (f: Figure) =>
  f.ofBaseline === undefined ? '' : `, ${pct(f.ofBaseline)} of baseline`;
const errors18 = (f: Figure) => `${fmt(f.errors ?? 0)} errors`;

/** A throughput target of issue 18: req/s, optionally p99, and no error at all. */
function throughput(
  text: string,
  id: string,
  minRps: number,
  maxP99Ms?: number,
  stack: StackKind = 'real',
): Target {
  return target(
    text,
    [id],
    ([f]) => {
      const rps = f!.reqPerSec ?? 0;
      const p99 = f!.p99Ms ?? Infinity;
      const p99Part =
        maxP99Ms === undefined ? '' : `; p99 ${ms(p99)} (${margin(p99, maxP99Ms, false)})`;
      return {
        measured: `${fmt(rps)} req/s (${margin(rps, minRps, true)}${ofBase(f!)})${p99Part}; ${errors18(f!)}`,
        met: rps >= minRps && (maxP99Ms === undefined || p99 < maxP99Ms) && (f!.errors ?? 0) === 0,
      };
    },
    stack,
  );
}

/** Issue 18's targets, on the clustered graph (the realistic one). */
const ISSUE_18: readonly Target[] = [
  throughput(
    'Issue 18: home feed, 20 hydrated posts, clustered graph, Postgres + Redis + RabbitMQ: at least 4,000 req/s, p99 under 25 ms, 0 errors',
    'home.clustered.read',
    4_000,
    25,
  ),
  throughput(
    'Issue 18: home feed, 20 hydrated posts, clustered graph, embedded: at least 2,000 req/s, 0 errors',
    'home.clustered.read',
    2_000,
    undefined,
    'embedded',
  ),
  throughput(
    'Issue 18: DSB home-timeline reads, clustered graph: at least 3,000 req/s, 0 errors',
    'dsb.clustered.home',
    3_000,
  ),
  throughput(
    'Issue 18: DSB 60/30/10 mix, clustered graph: at least 2,500 req/s, p99 under 50 ms, 0 errors',
    'dsb.clustered.mix',
    2_500,
    50,
  ),
  throughput(
    'Issue 18: DSB compose with fan-out to about 40 followers, clustered graph: at least 1,500 req/s, 0 errors',
    'dsb.clustered.compose',
    1_500,
  ),
  target(
    'Issue 18: compose at 200 posts/s for 60 s, clustered graph: fan-out lag p99 under 2 s, 0 events waiting 5 s after, 0 errors',
    ['dsb.clustered.sustained.lag', 'dsb.clustered.backlog', 'dsb.clustered.sustained'],
    ([lag, backlog, load]) => {
      const p99 = lag!.value ?? Infinity;
      return {
        measured:
          `lag p99 ${ms(p99)} (${margin(p99, 2_000, false)}), p50 ${ms(lag!.p50Ms)}; ` +
          `${fmt(backlog!.value ?? NaN)} events waiting; ${fmt(load!.reqPerSec ?? 0)} posts/s sent${ofBase(load!)}, ${errors18(load!)}`,
        met: p99 < 2_000 && backlog!.value === 0 && (load!.errors ?? 0) === 0,
      };
    },
    'real',
  ),
  ...(
    [
      [10_000, 500],
      [100_000, 3_000],
    ] as const
  ).map(([followers, limit]) =>
    target(
      `Issue 18: fan-out lag for ${fmt(followers)} followers under ${fmt(limit)} ms`,
      [`feed.lag.${followers}`],
      ([f]) => ({
        measured: `median ${ms(f!.value)} (${margin(f!.value ?? NaN, limit, false)})${f!.note ? `, ${f!.note}` : ''}`,
        met: (f!.value ?? Infinity) < limit,
      }),
      'real',
    ),
  ),
  target(
    'Issue 18: a single home-timeline read on an idle server, clustered graph: p99 under 5 ms',
    ['dsb.clustered.idle'],
    ([f]) => ({
      measured: `p99 ${ms(f!.value)} (${margin(f!.value ?? NaN, 5, false)}), p50 ${ms(f!.p50Ms)}; ${errors18(f!)}`,
      met: (f!.value ?? Infinity) < 5 && (f!.errors ?? 0) === 0,
    }),
    'real',
  ),
];

export const TARGETS: readonly Target[] = [
  target(
    'Home feed read, 20 hydrated posts: at least 50 % of the baseline req/s, p99 under 25 ms',
    ['http.home'],
    ([f]) => ({
      measured: `${fmt(f!.reqPerSec ?? 0)} req/s (${pct(f!.ofBaseline ?? 0)} of baseline), p99 ${ms(f!.p99Ms)}${errorNote(f!)}`,
      met: (f!.ofBaseline ?? 0) >= 0.5 && (f!.p99Ms ?? Infinity) < 25 && clean(f!),
    }),
  ),
  target(
    'DeathStarBench mix (60 % home-timeline, 30 % user-timeline, 10 % compose) on Postgres + Redis + RabbitMQ, seed graph: at least 5,000 req/s, p99 under 25 ms',
    ['dsb.seed.mix'],
    ([f]) => ({
      measured: `${fmt(f!.reqPerSec ?? 0)} req/s, p99 ${ms(f!.p99Ms)}${errorNote(f!)}`,
      met: (f!.reqPerSec ?? 0) >= 5_000 && (f!.p99Ms ?? Infinity) < 25 && clean(f!),
    }),
    'real',
  ),
  target(
    'Create post with fan-out to 50 followers: at least 1,500 req/s',
    ['http.post'],
    ([f]) => ({
      measured: `${fmt(f!.reqPerSec ?? 0)} req/s, p99 ${ms(f!.p99Ms)}${errorNote(f!)}`,
      met: (f!.reqPerSec ?? 0) >= 1_500 && clean(f!),
    }),
  ),
  target('Fan-out lag under 1 s for 10,000 followers', ['feed.lag.10000'], ([f]) => ({
    measured: `median ${ms(f!.value)}${f!.note ? ` (${f!.note})` : ''}`,
    met: (f!.value ?? Infinity) < 1_000,
  })),
  target(
    'Constant write cost for authors past the big-account threshold (req/s of the slowest big author at least 80 % of the fastest, and of a small author)',
    ['feed.writecost', 'feed.writecost.small'],
    ([flat, small]) => ({
      measured: `slowest big author at ${pct(flat!.value ?? 0)} of the fastest, ${pct(small!.value ?? 0)} of the small author`,
      met: (flat!.value ?? 0) >= 0.8 && (small!.value ?? 0) >= 0.8,
    }),
  ),
  target('WebSocket delivery p99 under 100 ms with 1,000 clients', ['stream.delivery'], ([f]) => ({
    measured:
      `p99 ${ms(f!.value)} (p50 ${ms(f!.p50Ms)}), ${clientsOf(f!) ?? '?'} clients` +
      (f!.errors ? `; ${fmt(f!.errors)} lost, duplicated or out of order` : ''),
    met: (f!.value ?? Infinity) < 100 && !f!.errors && clientsOf(f!) === '1,000',
  })),
  target('20,000 idle WebSockets under 1 GB (10^9 bytes) of RSS', ['stream.idle20k'], ([f]) => ({
    measured: `${fmt(f!.value ?? 0, 1)} MiB${f!.note ? ` (${f!.note})` : ''}`,
    met: (f!.value ?? Infinity) * 2 ** 20 < 1e9,
  })),
  ...ISSUE_18,
  target(
    'Search posts on 1,000,000 posts (Postgres) or 100,000 (embedded): p95 under 50 ms at 20 concurrent searches (measured as p99, which bounds it)',
    ['search.posts'],
    ([f]) => ({
      measured: `p99 ${ms(f!.p99Ms)}, ${f!.label}${errorNote(f!)}`,
      met: (f!.p99Ms ?? Infinity) < 50 && clean(f!),
    }),
  ),
  target(
    "The home timeline through the Mastodon API within 20 % of kith's own feed (issue 19)",
    ['home.clustered.mastodonvsfeed'],
    ([f]) => ({ measured: pct(f!.value ?? 0), met: (f!.value ?? 0) >= 0.8 }),
  ),
  target('Tag timeline reads within 20 % of profile reads', ['search.tagvsprofile'], ([f]) => ({
    measured: pct(f!.value ?? 0),
    met: (f!.value ?? 0) >= 0.8,
  })),
  target(
    'A post with tags at most 10 % slower to write than one without',
    ['search.writecost'],
    ([f]) => ({ measured: pct(f!.value ?? 0), met: (f!.value ?? 0) >= 0.9 }),
  ),
];
