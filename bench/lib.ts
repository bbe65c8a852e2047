/**
 * Shared pieces of kith's benchmarks: the machine a run was taken on, a baseline HTTP server,
 * autocannon in a separate process, Markdown tables, and results files.
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadOptions, LoadResult } from './autocannon-runner.ts';

export type { LoadOptions, LoadResult } from './autocannon-runner.ts';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT_DIR = dirname(BENCH_DIR);
export const RESULTS_DIR = join(BENCH_DIR, 'results');

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

/**
 * Writes `bench/results/<name>-<timestamp>.md` and `.json`; returns their paths relative to the
 * repository root.
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
  return { md: relative(ROOT_DIR, `${base}.md`), json: relative(ROOT_DIR, `${base}.json`) };
}

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
