/**
 * `npm run bench [-- --embedded | --real] [--quick] [--only http,feed,…]`: every scenario of
 * issue 10, on both stacks by default, then one summary.
 *
 * Each scenario script (bench/http.ts, feed.ts, stream.ts, and dsb.ts when it exists) runs as a
 * child process, one after the other (they would skew each other's figures), with `--real` for
 * the real stack and `--quick` passed down. Each writes its own results files and prints a JSON
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
import type { StackKind } from './stack.ts';
import { figuresOf, judgeTargets, summaryMarkdown, type ScenarioRun } from './summary.ts';

const { values } = parseArgs({
  options: {
    embedded: { type: 'boolean' },
    real: { type: 'boolean' },
    quick: { type: 'boolean' },
    only: { type: 'string' },
  },
});
const SCENARIOS = ['http', 'feed', 'stream', 'dsb', 'search'].filter((s) =>
  existsSync(join(BENCH_DIR, `${s}.ts`)),
);
const only = values.only?.split(',').map((s) => s.trim());
const scenarios = only ? SCENARIOS.filter((s) => only.includes(s)) : SCENARIOS;
const stacks: StackKind[] =
  values.embedded === values.real ? ['embedded', 'real'] : values.real ? ['real'] : ['embedded'];
const quick = values.quick === true;

const log = (line: string) => console.log(line);

/** Runs one scenario script, echoing its output; resolves with the figures of its results. */
function runScript(name: string, kind: StackKind): Promise<ScenarioRun> {
  const args = [join(BENCH_DIR, `${name}.ts`)];
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
        run.figures = figuresOf(name, JSON.parse(readFileSync(path, 'utf8')));
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
    `# kith benchmarks: ${scenarios.join(', ')} on ${stacks.join(' and ')}${quick ? ' (quick)' : ''}`,
  );
  log(`Machine: ${machineLine(machine)}`);
  if (busy) log(busy);
  const byStack: Partial<Record<StackKind, ScenarioRun[]>> = {};
  for (const kind of stacks) {
    const runs: ScenarioRun[] = (byStack[kind] = []);
    for (const name of scenarios) {
      log(`\n===== ${name} (${kind}) =====\n`);
      const run = await runScript(name, kind);
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
