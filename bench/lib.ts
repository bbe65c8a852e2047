/**
 * Shared pieces of kith's benchmarks: the machine a run was taken on, a baseline HTTP server,
 * autocannon in a separate process, Markdown tables, and results files.
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadOptions, LoadResult } from './autocannon-runner.ts';

export type { LoadOptions, LoadResult } from './autocannon-runner.ts';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT_DIR = dirname(BENCH_DIR);
/** Where results are written: bench/results, or BENCH_RESULTS_DIR (the smoke test's temp folder). */
export const RESULTS_DIR = process.env.BENCH_RESULTS_DIR
  ? resolve(process.env.BENCH_RESULTS_DIR)
  : join(BENCH_DIR, 'results');

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  /** Short commit of the kith checkout, with `+dirty` when it has uncommitted changes. */
  commit: string;
  /** 1-minute load average when the run started: other work on the machine skews results. */
  loadAverage: number;
}

function git(...args: string[]): string {
  return execFileSync('git', args, { cwd: ROOT_DIR, encoding: 'utf8', stdio: 'pipe' }).trim();
}

export function machineInfo(): MachineInfo {
  let commit = 'unknown';
  try {
    commit = git('rev-parse', '--short', 'HEAD');
    if (git('status', '--porcelain', '--untracked-files=no') !== '') commit += '+dirty';
  } catch {
    // not a git checkout
  }
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${platform()} ${release()}`,
    node: process.version,
    commit,
    loadAverage: Math.round(loadavg()[0]! * 100) / 100,
  };
}

/** A warning when the machine was already busy (load average above half its cores). */
export const busyWarning = (m: MachineInfo): string | undefined =>
  m.loadAverage > m.cores / 2
    ? `Warning: load average ${m.loadAverage} on ${m.cores} cores when the run started; other work skews these numbers.`
    : undefined;

export const machineLine = (m: MachineInfo): string =>
  `${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB RAM, ${m.os}, Node ${m.node}, kith ${m.commit}, load average ${m.loadAverage}`;

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The baseline: a bare `node:http` server answering every request with a fixed JSON body, run
 * in this process like kith, loaded with the same settings. Results are read against it, so a
 * slower or busier machine shifts both.
 */
export async function startBaseline(
  body: string = JSON.stringify({ status: 'ok' }),
): Promise<RunningServer> {
  const payload = Buffer.from(body);
  const server = createServer((_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': payload.length,
    });
    res.end(payload);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Runs autocannon in a child process, so the load generator never shares the server's loop. */
export function runLoad(opts: LoadOptions): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = fork(join(BENCH_DIR, 'autocannon-runner.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: LoadResult | undefined;
    child.on('message', (msg: { result?: LoadResult; error?: string }) => {
      if (msg.error) reject(new Error(`autocannon failed: ${msg.error}`));
      result = msg.result;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (result) resolve(result);
      else reject(new Error(`autocannon runner exited with code ${code} without a result`));
    });
    child.send(opts);
  });
}

/**
 * One call to kith's API (`path` under /api/v1) during a scenario's set-up; throws on an error
 * status. A 503 (load shedding: bulk seeding blocks the event loop for a while) is retried for
 * up to 30 s.
 */
export async function apiCall<T>(origin: string, path: string, init: RequestInit = {}): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${origin}/api/v1${path}`, init);
    const body = (await res.json()) as T;
    if (res.ok) return body;
    if (res.status !== 503 || Date.now() > deadline)
      throw new Error(`${init.method ?? 'GET'} ${path}: ${res.status} ${JSON.stringify(body)}`);
    await delay(250);
  }
}

/**
 * Runs a clean-up in a `finally`: a failure is printed and makes the exit code 1, but never
 * hides the error (or the results) of the run before it.
 */
export async function cleanUp(stop: () => Promise<unknown> | undefined): Promise<void> {
  try {
    await stop();
  } catch (err) {
    console.error('Clean-up failed:', err);
    process.exitCode = 1;
  }
}

/**
 * On SIGINT or SIGTERM: runs `stop` (removing what the run created), then exits with 130. A stop
 * that hangs is given 30 s.
 */
export function onInterrupt(stop: () => Promise<unknown> | undefined): void {
  const interrupt = () => {
    setTimeout(() => process.exit(130), 30_000).unref();
    void Promise.resolve(stop())
      .catch((err: unknown) => console.error(err))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
}

/** A load run preceded by an unrecorded warm-up with the same settings. */
export async function measureLoad(opts: LoadOptions, warmupSeconds: number): Promise<LoadResult> {
  if (warmupSeconds > 0) await runLoad({ ...opts, duration: warmupSeconds });
  return runLoad(opts);
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** A Markdown table; cells are printed as given. */
export function table(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const line = (cells: readonly unknown[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A number with thousands separators and at most `digits` decimals. */
export const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : '—';

/** A path relative to the repository root when it is inside it, else absolute. */
const shown = (path: string): string => {
  const rel = relative(ROOT_DIR, path);
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel;
};

/** The line a scenario prints last: `npm run bench` (bench/run.ts) reads its results from it. */
export const RESULTS_MARKER = 'bench-results';

/**
 * Writes `<RESULTS_DIR>/<name>-<timestamp>.md` and `.json`; returns their paths (relative to the
 * repository root when inside it), after printing them, then a JSON line
 * `{"bench-results":{"md":…,"json":…}}` for bench/run.ts.
 */
export function writeResults(
  name: string,
  markdown: string,
  json: unknown,
  at: Date = new Date(),
): { md: string; json: string } {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = at
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  const base = join(RESULTS_DIR, `${name}-${stamp}`);
  writeFileSync(`${base}.md`, markdown.endsWith('\n') ? markdown : `${markdown}\n`);
  writeFileSync(`${base}.json`, JSON.stringify(json, null, 2) + '\n');
  const files = { md: shown(`${base}.md`), json: shown(`${base}.json`) };
  console.log(`Results: ${files.md}, ${files.json}`);
  console.log(JSON.stringify({ [RESULTS_MARKER]: files }));
  return files;
}

/**
 * One figure of a scenario, as the combined summary (bench/run.ts) lists it. Every results JSON
 * carries `figures: Figure[]`. A load run fills the request fields; anything else (a lag, a
 * memory size) gives `value` and `unit`.
 */
export interface Figure {
  /** Stable key, e.g. `http.home`, `feed.lag.10000`: the summary's targets look figures up by it. */
  id: string;
  /** What was measured, in words. */
  label: string;
  reqPerSec?: number;
  /** Requests sent in the measured run (all outcomes). */
  requests?: number;
  p50Ms?: number;
  p99Ms?: number;
  /** Non-2xx responses, socket errors and timeouts. */
  errors?: number;
  /** req/s as a fraction of the baseline's (0.5 = half). */
  ofBaseline?: number;
  value?: number;
  unit?: string;
  note?: string;
}

/** Non-2xx responses plus socket errors and timeouts of a load run. */
export const failures = (r: LoadResult): number => r.non2xx + r.errors + r.timeouts;

/**
 * Successful (2xx) responses per second: the throughput that counts. A shed or failed request
 * is cheap, so counting it would flatter an overloaded server.
 */
export const okPerSec = (r: LoadResult): number =>
  r.totalRequests > 0 ? (r.requestsPerSec * r.ok) / r.totalRequests : 0;

/** The figure of a load run (2xx req/s); `baselineRps` gives its ratio to the baseline. */
export const loadFigure = (
  id: string,
  label: string,
  r: LoadResult,
  baselineRps?: number,
  note?: string,
): Figure => ({
  id,
  label,
  reqPerSec: okPerSec(r),
  requests: r.totalRequests,
  p50Ms: r.latencyP50,
  p99Ms: r.latencyP99,
  errors: failures(r),
  ...(baselineRps ? { ofBaseline: okPerSec(r) / baselineRps } : {}),
  ...(note ? { note } : {}),
});

/** A percentage with one decimal, e.g. `42.5 %`. */
export const pct = (fraction: number): string => `${fmt(100 * fraction, 1)} %`;

/** A prom-client counter's current value for these labels (read at once: values are live). */
export async function counterValue(
  counter: { get(): Promise<{ values: { value: number; labels: object }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await counter.get();
  const match = values.find((v) =>
    Object.entries(labels).every(([k, want]) => (v.labels as Record<string, unknown>)[k] === want),
  );
  return match?.value ?? 0;
}

/** A numeric option parsed by node:util parseArgs (as a string), or `fallback`. */
export function numberOption(
  values: Record<string, string | boolean | undefined>,
  name: string,
  fallback: number,
): number {
  const raw = values[name];
  if (raw === undefined || typeof raw === 'boolean') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
  return n;
}
