/**
 * `npm run bench [-- --embedded | --real] [--quick] [--only http,feed,…] [--graph seed|clustered]`:
 * every scenario of issues 10 and 18, on both stacks by default, then one summary.
 *
 * Each scenario script (bench/http.ts, feed.ts, stream.ts, dsb.ts, home.ts) runs as a child
 * process, one after the other (they would skew each other's figures), with `--real` for the
 * real stack and `--quick` passed down. The graph scenarios (dsb, home) run once per graph of
 * bench/graphs, both by default. Each writes its own results files and prints a JSON
 * line naming them (`writeResults`); this reads their `figures` and writes
 * `summary-<stamp>.md` and `.json` next to them (bench/summary.ts): every figure per stack, and
 * the targets of issue 10 with the measured value and whether each is met.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  BENCH_DIR,
  busyWarning,
  fmt,
  machineInfo,
  machineLine,
  RESULTS_MARKER,
  ROOT_DIR,
  writeResults,
} from './lib.ts';
import { GRAPH_NAMES, parseGraphName, type GraphName } from './graphs/graph.ts';
import type { StackKind } from './stack.ts';
import { figuresOf, judgeTargets, summaryMarkdown, type ScenarioRun } from './summary.ts';

const { values } = parseArgs({
  options: {
    embedded: { type: 'boolean' },
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    only: { type: 'string' },
    graph: { type: 'string' },
  },
});
/** Scenarios that load a graph of bench/graphs, run once per graph. */
const GRAPH_SCENARIOS = new Set(['dsb', 'home']);
const graphs: GraphName[] = values.graph
  ? values.graph.split(',').map((g) => parseGraphName(g.trim(), 'clustered'))
  : [...GRAPH_NAMES];
interface Planned {
  /** `dsb (clustered)`: the script and its graph. */
  name: string;
  script: string;
  args: string[];
}
const SCENARIOS: Planned[] = ['http', 'feed', 'stream', 'dsb', 'home', 'media', 'search']
  .filter((s) => existsSync(join(BENCH_DIR, `${s}.ts`)))
  .flatMap((script) =>
    GRAPH_SCENARIOS.has(script)
      ? graphs.map((g) => ({ name: `${script} (${g})`, script, args: ['--graph', g] }))
      : [{ name: script, script, args: [] }],
  );
const only = values.only?.split(',').map((s) => s.trim());
const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.script)) : SCENARIOS;
const stacks: StackKind[] =
  values.embedded === values.real ? ['embedded', 'real'] : values.real ? ['real'] : ['embedded'];
const quick = values.quick === true;

const log = (line: string) => console.log(line);

/** Runs one scenario script, echoing its output; resolves with the figures of its results. */
function runScript({ name, script, args: extra }: Planned, kind: StackKind): Promise<ScenarioRun> {
  const args = [join(BENCH_DIR, `${script}.ts`), ...extra];
  if (kind === 'real') args.push('--real');
  if (quick) args.push('--quick');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT_DIR,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, BENCH_REAL: kind === 'real' ? '1' : '' },
    });
    let results: ScenarioRun['results'];
    createInterface({ input: child.stdout }).on('line', (line) => {
      console.log(line);
      if (!line.startsWith(`{"${RESULTS_MARKER}"`)) return;
      try {
        results = (JSON.parse(line) as Record<string, ScenarioRun['results']>)[RESULTS_MARKER];
      } catch {
        // not the marker after all
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const run: ScenarioRun = {
        name,
        exitCode: code,
        seconds: (performance.now() - started) / 1000,
        figures: [],
      };
      if (!results) return resolve({ ...run, problem: `no results (exit code ${code})` });
      run.results = results;
      try {
        const path = isAbsolute(results.json) ? results.json : join(ROOT_DIR, results.json);
        run.figures = figuresOf(script, JSON.parse(readFileSync(path, 'utf8')));
        if (run.figures.length === 0) run.problem = 'its results have no figures';
      } catch (err) {
        run.problem = `unreadable results: ${String(err)}`;
      }
      resolve(run);
    });
  });
}

async function main(): Promise<void> {
  const started = performance.now();
  const machine = machineInfo();
  const busy = busyWarning(machine);
  log(
    `# kith benchmarks: ${scenarios.map((s) => s.name).join(', ')} on ${stacks.join(' and ')}${quick ? ' (quick)' : ''}`,
  );
  log(`Machine: ${machineLine(machine)}`);
  if (busy) log(busy);
  const byStack: Partial<Record<StackKind, ScenarioRun[]>> = {};
  for (const kind of stacks) {
    const runs: ScenarioRun[] = (byStack[kind] = []);
    for (const planned of scenarios) {
      const name = planned.name;
      log(`\n===== ${name} (${kind}) =====\n`);
      const run = await runScript(planned, kind);
      runs.push(run);
      log(
        `\n===== ${name} (${kind}): ${fmt(run.seconds)} s, exit code ${run.exitCode}${run.problem ? `, ${run.problem}` : ''} =====`,
      );
    }
  }
  const totalSeconds = (performance.now() - started) / 1000;
  const targets = judgeTargets(byStack);
  const command = ['npm run bench', ...(process.argv.length > 2 ? ['--'] : [])]
    .concat(process.argv.slice(2))
    .join(' ');
  const markdown = summaryMarkdown(
    { machine, command, quick, byStack, totalSeconds, ...(busy ? { busy } : {}) },
    targets,
  );
  log('\n' + markdown);
  writeResults('summary', markdown, {
    name: 'summary',
    date: new Date().toISOString(),
    machine,
    command,
    quick,
    stacks: byStack,
    targets,
    totalSeconds,
  });
  log(`Total time: ${fmt(totalSeconds / 60, 1)} min (${fmt(totalSeconds)} s)`);
  const failed = Object.values(byStack)
    .flat()
    .filter((r) => r.problem || r.exitCode !== 0);
  if (failed.length > 0) {
    console.error(
      `Scenarios with problems: ${failed.map((r) => `${r.name} (exit ${r.exitCode}${r.problem ? `, ${r.problem}` : ''})`).join(', ')}`,
    );
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
