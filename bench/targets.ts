/**
 * The performance targets of issue 10 (part 4), judged from the figures the scenarios report
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
    'DeathStarBench mix (60 % home-timeline, 30 % user-timeline, 10 % compose) on Postgres + Redis + RabbitMQ: at least 5,000 req/s, p99 under 25 ms',
    ['dsb.mix'],
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
  target(
    'Search posts on 1,000,000 posts (Postgres) or 100,000 (embedded): p95 under 50 ms at 20 concurrent searches (measured as p99, which bounds it)',
    ['search.posts'],
    ([f]) => ({
      measured: `p99 ${ms(f!.p99Ms)}, ${f!.label}${errorNote(f!)}`,
      met: (f!.p99Ms ?? Infinity) < 50 && clean(f!),
    }),
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
