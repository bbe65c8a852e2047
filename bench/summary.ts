/**
 * The combined summary of `npm run bench` (bench/run.ts): the figures of every scenario's
 * results file, one table per stack, and the targets of issues 10 and 18 judged from them.
 */
import { fmt, machineLine, pct, table, type Figure, type MachineInfo } from './lib.ts';
import type { StackKind } from './stack.ts';
import { TARGETS, type TargetResult } from './targets.ts';

export interface ScenarioRun {
  name: string;
  exitCode: number | null;
  seconds: number;
  results?: { md: string; json: string };
  figures: Figure[];
  /** Why it has no figures, or failed, if so. */
  problem?: string;
}

export interface SummaryInput {
  machine: MachineInfo;
  /** The command, as typed. */
  command: string;
  quick: boolean;
  byStack: Partial<Record<StackKind, ScenarioRun[]>>;
  totalSeconds: number;
  /** A warning about the machine's load, if any. */
  busy?: string;
}

/**
 * The figures of a results file: its `figures`, or else (a script that does not list them)
 * every load run found in it, named by where it sits.
 */
export function figuresOf(name: string, json: unknown): Figure[] {
  const listed = (json as { figures?: Figure[] }).figures;
  if (Array.isArray(listed)) return listed;
  const found: Figure[] = [];
  const walk = (value: unknown, path: string[]) => {
    if (!value || typeof value !== 'object') return;
    const r = value as Record<string, unknown>;
    const num = (k: string) => (typeof r[k] === 'number' ? r[k] : 0);
    if (typeof r.requestsPerSec === 'number' && typeof r.latencyP99 === 'number') {
      found.push({
        id: [name, ...path].join('.'),
        label: path.join(' › ') || name,
        reqPerSec: r.requestsPerSec,
        p50Ms: num('latencyP50'),
        p99Ms: r.latencyP99,
        errors: num('non2xx') + num('errors') + num('timeouts'),
      });
      return;
    }
    for (const [k, v] of Object.entries(r)) if (k !== 'machine') walk(v, [...path, k]);
  };
  walk(json, []);
  return found;
}

/** Every target, judged on each stack it applies to that was run. */
export function judgeTargets(byStack: SummaryInput['byStack']): TargetResult[] {
  const stacks = Object.keys(byStack) as StackKind[];
  return TARGETS.flatMap((t) =>
    stacks
      .filter((kind) => !t.stack || t.stack === kind)
      .map((kind) =>
        t.judge(
          kind,
          byStack[kind]!.flatMap((r) => r.figures),
        ),
      ),
  );
}

const cell = (n: number | undefined, digits = 0) => (n === undefined ? '—' : fmt(n, digits));

function figureTable(runs: readonly ScenarioRun[]): string {
  const rows = runs.flatMap((run) =>
    run.figures.map((f) => [
      run.name,
      f.label,
      cell(f.reqPerSec),
      cell(f.p50Ms, 1),
      cell(f.p99Ms, 1),
      cell(f.errors),
      f.ofBaseline === undefined ? '—' : pct(f.ofBaseline),
      f.value === undefined ? '—' : `${fmt(f.value, f.unit === 'ratio' ? 2 : 1)} ${f.unit ?? ''}`,
      f.note ?? '',
    ]),
  );
  return table(
    [
      'Scenario',
      'Figure',
      'Req/s (2xx)',
      'p50 (ms)',
      'p99 (ms)',
      'Errors',
      'Of baseline',
      'Value',
      'Note',
    ],
    rows,
  );
}

const STACK_NAMES: Record<StackKind, string> = {
  embedded: 'Embedded (PGlite, in-memory timelines and cache, in-process bus)',
  real: 'Postgres + Redis + RabbitMQ',
};

export function summaryMarkdown(s: SummaryInput, targets: readonly TargetResult[]): string {
  const stacks = Object.keys(s.byStack) as StackKind[];
  const verdict = (t: TargetResult) =>
    t.met === undefined
      ? 'not measured'
      : `${t.met ? 'met' : 'not met'}${s.quick ? ' (quick run: not judged)' : ''}`;
  return [
    `# kith benchmark summary`,
    '',
    `- Machine: ${machineLine(s.machine)}`,
    `- Command: \`${s.command}\`; ${new Date().toISOString()}; total ${fmt(s.totalSeconds / 60, 1)} min`,
    ...(s.busy ? [`- ${s.busy}`] : []),
    ...(s.quick
      ? [
          '- Quick run: smoke-sized scenarios (small graphs, short loads); the targets are not judged at these sizes.',
        ]
      : []),
    '',
    '## Runs',
    '',
    table(
      ['Stack', 'Scenario', 'Time (s)', 'Exit code', 'Results'],
      stacks.flatMap((kind) =>
        s.byStack[kind]!.map((r) => [
          kind,
          r.name,
          fmt(r.seconds),
          r.exitCode ?? 'killed',
          [r.results?.md, r.problem].filter(Boolean).join('; '),
        ]),
      ),
    ),
    '',
    ...stacks.flatMap((kind) => [`## ${STACK_NAMES[kind]}`, '', figureTable(s.byStack[kind]!), '']),
    '## Targets (issues 10 and 18)',
    '',
    table(
      ['Target', 'Stack', 'Measured', 'Met'],
      targets.map((t) => [t.target, t.stack, t.measured, verdict(t)]),
    ),
    '',
  ].join('\n');
}
