import type { CommandName } from './script-parser.ts';
import type { CommandResult, FeedEntry, NotificationEntry, RunReport } from './script-runner.ts';

export interface CommandStats {
  readonly command: CommandName;
  readonly count: number;
  readonly failures: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
}

export interface RunSummary {
  readonly url: string;
  /** Commands run (not counting those left unrun after a failure). */
  readonly count: number;
  readonly failures: number;
  readonly notRun: number;
  readonly totalMs: number;
  readonly rateLimitWaitMs: number;
  /** The line the run stopped at, when it stopped at a failure. */
  readonly stoppedAtLine: number | undefined;
  /** Per command type, in order of first appearance. */
  readonly byCommand: readonly CommandStats[];
}

/** Nearest-rank percentile (p in 0-100) of the values; 0 for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

export function summarize(report: RunReport): RunSummary {
  const groups = new Map<CommandName, CommandResult[]>();
  for (const r of report.results) groups.set(r.command, [...(groups.get(r.command) ?? []), r]);
  const last = report.results.at(-1);
  return {
    url: report.url,
    count: report.results.length,
    failures: report.results.filter((r) => !r.ok).length,
    notRun: report.notRun,
    totalMs: report.totalMs,
    rateLimitWaitMs: report.results.reduce((sum, r) => sum + r.rateLimitWaitMs, 0),
    stoppedAtLine: report.notRun > 0 && last && !last.ok ? last.line : undefined,
    byCommand: [...groups].map(([command, results]) => {
      const latencies = results.map((r) => r.latencyMs);
      return {
        command,
        count: results.length,
        failures: results.filter((r) => !r.ok).length,
        p50Ms: percentile(latencies, 50),
        p95Ms: percentile(latencies, 95),
      };
    }),
  };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
const ms = (value: number) => `${value.toFixed(1)} ms`;
const seconds = (value: number) => `${(value / 1000).toFixed(3)} s`;
const quote = (text: string, max = 60) =>
  JSON.stringify(text.length > max ? `${text.slice(0, max - 1)}…` : text);

function itemLine(item: FeedEntry | NotificationEntry): string {
  if ('text' in item) {
    const name = item.post === undefined ? item.id : `post ${item.post}`;
    const counts = `${plural(item.like_count, 'like')}, ${plural(item.comment_count, 'comment')}`;
    return `${name} by ${item.author}: ${quote(item.text)} (${counts})`;
  }
  const others = item.actor_count - item.actors.length;
  const who = item.actors.join(', ') + (others > 0 ? ` and ${others} more` : '');
  const about = item.post === undefined ? '' : ` on post ${item.post}`;
  return `${item.type} from ${who}${about}${item.read ? '' : ' (unread)'}`;
}

/**
 * One line per command (line number, `[n]`, command, latency, result), then the entries of a
 * FEED or NOTIFICATIONS page indented below it:
 *
 *      3 [3]     CREATE_POST    ana            6.2 ms  ok    post 1 = 0193…
 */
export function formatResult(r: CommandResult): string {
  const seq = r.seq === undefined ? '' : `[${r.seq}]`;
  const wait = r.rateLimitWaitMs > 0 ? ` (rate-limited: waited ${seconds(r.rateLimitWaitMs)})` : '';
  const head =
    `${String(r.line).padStart(5)} ${seq.padEnd(7)} ${r.command.padEnd(15)}${(r.user ?? '').padEnd(12)}` +
    `${ms(r.latencyMs).padStart(10)}  ${r.ok ? 'ok  ' : 'FAIL'}  ${r.message}${wait}`;
  return [head, ...(r.items ?? []).map((item) => `${' '.repeat(14)}- ${itemLine(item)}`)].join(
    '\n',
  );
}

/** The summary printed after the run: time taken, counts, then p50/p95 latency per command. */
export function formatSummary(s: RunSummary): string {
  const lines = [
    '',
    `Time taken: ${seconds(s.totalMs)} for ${plural(s.count, 'command')} against ${s.url}; ` +
      `${s.count - s.failures} ok, ${s.failures} failed.`,
  ];
  if (s.stoppedAtLine !== undefined) {
    lines.push(
      `Stopped at line ${s.stoppedAtLine}; ${plural(s.notRun, 'more command')} not run (--keep-going runs past failures).`,
    );
  }
  if (s.rateLimitWaitMs > 0) {
    lines.push(
      `Rate-limited: waited ${seconds(s.rateLimitWaitMs)} in all for 429 answers (Retry-After) and retried; latencies exclude the waits.`,
    );
  }
  lines.push(
    '',
    `${'command'.padEnd(15)}${'count'.padStart(6)}${'failed'.padStart(8)}${'p50'.padStart(11)}${'p95'.padStart(11)}`,
  );
  for (const c of s.byCommand) {
    lines.push(
      `${c.command.padEnd(15)}${String(c.count).padStart(6)}${String(c.failures).padStart(8)}` +
        `${ms(c.p50Ms).padStart(11)}${ms(c.p95Ms).padStart(11)}`,
    );
  }
  return lines.join('\n');
}

const round = (value: number) => Math.round(value * 10) / 10;

/** `--json`: the same information as one JSON document (milliseconds rounded to 0.1). */
export function reportJson(report: RunReport, summary: RunSummary) {
  return {
    results: report.results.map((r) => ({
      ...r,
      seq: r.seq ?? null,
      user: r.user ?? null,
      id: r.id ?? null,
      error: r.error ?? null,
      latencyMs: round(r.latencyMs),
      rateLimitWaitMs: round(r.rateLimitWaitMs),
    })),
    summary: {
      ...summary,
      stoppedAtLine: summary.stoppedAtLine ?? null,
      totalMs: round(summary.totalMs),
      rateLimitWaitMs: round(summary.rateLimitWaitMs),
      byCommand: summary.byCommand.map((c) => ({
        ...c,
        p50Ms: round(c.p50Ms),
        p95Ms: round(c.p95Ms),
      })),
    },
  };
}
