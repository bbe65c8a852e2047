/**
 * Smoke test of the benchmark suite (bench/): every scenario script starts, runs at a tiny size
 * and writes a well-formed result, and the summary of `npm run bench` judges every target from
 * those results. Nothing is measured here: the figures of so short a run mean nothing.
 *
 * The scripts run as `npm run bench:<name>` would, with `--quick` and smaller sizes still, on the
 * stack of the test run (the real services when DATABASE_URL is set, with `--real`), all at once
 * to keep the test short, writing into a temporary folder (BENCH_RESULTS_DIR).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BENCH_DIR, RESULTS_MARKER, type Figure } from '../../bench/lib.ts';
import type { StackKind } from '../../bench/stack.ts';
import { figuresOf, judgeTargets, summaryMarkdown, type ScenarioRun } from '../../bench/summary.ts';
import { TARGETS } from '../../bench/targets.ts';

const kind: StackKind = process.env.DATABASE_URL ? 'real' : 'embedded';
const tiny = ['--quick', '--duration', '1', '--warmup', '0'];

/** A 40-user graph loaded 8 requests at a time, a short sustained compose, a few idle reads. */
const graph = ['--users', '40', '--degree', '6', '--posts-max', '2', '--parallel', '8'];
const dsbIds = (g: string) =>
  [
    'baseline',
    'mix',
    'home',
    'user',
    'compose',
    'sustained',
    'sustained.lag',
    'backlog',
    'idle',
    'load',
    'loadlag',
    'clustering',
  ].map((s) => `dsb.${g}.${s}`);

/** Each scenario's script (its name unless said), arguments, and figure ids its results must hold. */
const SCENARIOS: Record<string, { script?: string; args: string[]; ids: string[] }> = {
  http: {
    args: [...tiny, '--users', '300', '--viewers', '20'],
    ids: ['baseline', 'home', 'profile', 'post', 'like', 'comment', 'login', 'mixed'].map(
      (s) => `http.${s}`,
    ),
  },
  feed: {
    args: [...tiny, '--followers', '50,200', '--big', '300', '--repeats', '1', '--readers', '20'],
    ids: [
      'feed.lag.50',
      'feed.lag.200',
      'feed.read',
      'feed.write.50',
      'feed.write.300',
      'feed.writecost',
      'feed.writecost.small',
    ],
  },
  stream: {
    args: ['--quick', '--clients', '10', '--messages', '10', '--idle', '20'],
    ids: ['stream.delivery', 'stream.idle.20', 'stream.idle20k'],
  },
  dsb: {
    args: [
      ...tiny,
      ...graph,
      '--graph',
      'clustered',
      '--rate',
      '10',
      '--sustain',
      '1',
      '--idle',
      '20',
    ],
    ids: dsbIds('clustered'),
  },
  // The other graph through kith's own API.
  home: {
    args: [...tiny, ...graph, '--graph', 'seed'],
    ids: ['read', 'compose', 'load', 'loadlag', 'clustering'].map((s) => `home.seed.${s}`),
  },
  media: {
    args: ['--quick', '--uploads', '2', '--reads', '10'],
    ids: ['media.upload', 'media.rss', 'media.feed.with', 'media.feed.without', 'media.feed.ratio'],
  },
  search: {
    args: [...tiny, '--posts', '2000', '--connections', '4'],
    ids: ['search.posts', 'search.tagvsprofile', 'search.writecost'],
  },
};
const scriptOf = (name: string) => SCENARIOS[name]!.script ?? name;
const present = Object.keys(SCENARIOS).filter((name) =>
  existsSync(join(BENCH_DIR, `${scriptOf(name)}.ts`)),
);

const dir = mkdtempSync(join(tmpdir(), 'kith-bench-smoke-'));

interface Outcome {
  code: number | null;
  /** What the script printed (stdout and stderr), also kept in `<dir>/<name>.log`. */
  output: string;
  seconds: number;
}

/** Longest a script may take; it is then stopped (SIGTERM, SIGKILL 30 s later). */
const SCRIPT_TIMEOUT_MS = 420_000;

function runScenario(name: string): Promise<Outcome> {
  const args = [join(BENCH_DIR, `${scriptOf(name)}.ts`), ...SCENARIOS[name]!.args];
  if (kind === 'real') args.push('--real');
  const started = Date.now();
  const logFile = join(dir, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(process.execPath, args, {
    env: { ...process.env, BENCH_RESULTS_DIR: dir, LOG_LEVEL: 'error' },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const term = setTimeout(() => child.kill('SIGTERM'), SCRIPT_TIMEOUT_MS);
  const kill = setTimeout(() => child.kill('SIGKILL'), SCRIPT_TIMEOUT_MS + 30_000);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(term);
      clearTimeout(kill);
      const output = readFileSync(logFile, 'utf8');
      resolve({ code, output, seconds: (Date.now() - started) / 1000 });
    });
  });
}

/** All at once: most of each run is start-up and waiting, which overlaps well. */
const outcomes = new Map(present.map((name) => [name, runScenario(name)]));
const runs = new Map<string, ScenarioRun>();

const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);

function assertFigure(f: Figure): void {
  assert.equal(typeof f.id, 'string', JSON.stringify(f));
  assert.ok(f.label.length > 0, `${f.id}: a label`);
  for (const key of [
    'reqPerSec',
    'requests',
    'p50Ms',
    'p99Ms',
    'errors',
    'ofBaseline',
    'value',
  ] as const) {
    if (f[key] !== undefined) assert.ok(finite(f[key]), `${f.id}.${key} = ${f[key]}`);
  }
  assert.ok(
    f.reqPerSec !== undefined || f.value !== undefined,
    `${f.id}: either a load run or a value`,
  );
}

describe(`benchmark scenarios start and write well-formed results (${kind})`, () => {
  // Kept when a scenario failed: its log is there.
  after(() => {
    if (runs.size === present.length) rmSync(dir, { recursive: true, force: true });
    else console.log(`bench smoke test: logs and results kept in ${dir}`);
  });

  for (const name of present) {
    it(`${name}`, { timeout: SCRIPT_TIMEOUT_MS + 60_000 }, async () => {
      const out = await outcomes.get(name)!;
      assert.equal(out.code, 0, `${name} exited with ${out.code}:\n${out.output.slice(-4000)}`);
      const line = out.output
        .split('\n')
        .reverse()
        .find((l) => l.startsWith(`{"${RESULTS_MARKER}"`));
      assert.ok(line, `${name} printed its results line`);
      const files = (JSON.parse(line) as Record<string, { md: string; json: string }>)[
        RESULTS_MARKER
      ]!;
      assert.ok(files.json.startsWith(dir), `results go to BENCH_RESULTS_DIR, not ${files.json}`);
      assert.match(readFileSync(files.md, 'utf8'), /^# kith /);
      const json = JSON.parse(readFileSync(files.json, 'utf8')) as {
        name: string;
        machine: { cores: number; memoryGiB: number; node: string };
        stack: { kind: string };
        totalSeconds: number;
      };
      assert.equal(json.name, name);
      assert.equal(json.stack.kind, kind);
      assert.ok(json.machine.cores >= 1 && finite(json.machine.memoryGiB), 'machine recorded');
      assert.ok(finite(json.totalSeconds));
      const figures = figuresOf(name, json);
      for (const f of figures) assertFigure(f);
      const ids = figures.map((f) => f.id);
      for (const id of SCENARIOS[name]!.ids)
        assert.ok(ids.includes(id), `${id} in ${ids.join(', ')}`);
      if (name === 'http') {
        const home = figures.find((f) => f.id === 'http.home')!;
        assert.ok(home.reqPerSec! > 0 && home.ofBaseline! > 0, 'home feed reads were served');
      }
      runs.set(name, {
        name,
        exitCode: out.code ?? -1,
        seconds: out.seconds,
        results: files,
        figures,
      });
    });
  }

  it('the summary lists every figure and judges every target of this stack', async () => {
    await Promise.allSettled(outcomes.values());
    assert.equal(runs.size, present.length, 'every scenario produced results');
    const byStack = { [kind]: [...runs.values()] };
    const targets = judgeTargets(byStack);
    assert.equal(targets.length, TARGETS.filter((t) => !t.stack || t.stack === kind).length);
    for (const t of targets) assert.ok(t.measured.length > 0 && t.stack === kind);
    // The tiny runs measure what the targets name, except sizes (10,000 followers, 1,000 clients).
    const judged = targets.filter((t) => t.met !== undefined).map((t) => t.target);
    assert.ok(judged.some((t) => t.startsWith('Home feed read')));
    assert.ok(judged.some((t) => t.startsWith('Create post')));
    assert.ok(judged.some((t) => t.startsWith('Constant write cost')));
    // Issue 18's, from the clustered graph's DSB run (the real stack judges the rest).
    if (kind === 'real') {
      for (const what of [
        'DSB 60/30/10 mix',
        'compose at 200 posts/s',
        'a single home-timeline read',
      ])
        assert.ok(
          judged.some((t) => t.includes(what)),
          what,
        );
    }
    const markdown = summaryMarkdown(
      {
        machine: JSON.parse(readFileSync(runs.get('http')!.results!.json, 'utf8')).machine,
        command: 'npm run bench -- --quick',
        quick: true,
        byStack,
        totalSeconds: 1,
      },
      targets,
    );
    for (const run of runs.values())
      for (const f of run.figures) assert.ok(markdown.includes(f.label), f.label);
    assert.match(markdown, /## Targets/);
  });
});
