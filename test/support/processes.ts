/**
 * Real `kith` processes for the fault tests (worker killed, SIGTERM under load): started with
 * exactly the environment given, their JSON log lines kept, killed after the file if a test
 * left them running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after } from 'node:test';
import { TEST_JWT_SECRET } from './harness.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

export interface KithProcess {
  child: ChildProcess;
  /** The api's URL (from its `kith is serving` line); '' for a worker. */
  url: string;
  /** Log lines (stdout, JSON) and stderr chunks, in order of arrival. */
  lines: string[];
  /** Exit code and signal once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The parsed log entries with this `msg`. */
  logged(msg: string): Record<string, unknown>[];
}

const running = new Set<ChildProcess>();
const dataDirs = new Set<string>();
after(() => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

/** A private folder for a process's embedded data, removed after the file. */
export function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kith-fault-'));
  dataDirs.add(dir);
  return dir;
}

/** Settings every test process gets unless the test says otherwise. */
export const processDefaults = {
  HOST: '127.0.0.1',
  PORT: '0',
  JWT_SECRET: TEST_JWT_SECRET,
  LOG_LEVEL: 'info',
  BCRYPT_COST: '4',
  OUTBOX_POLL_MS: '20',
  RATE_LIMIT_AUTH_PER_IP: '100000',
  RATE_LIMIT_LOGIN_PER_ACCOUNT: '100000',
  // A test machine is busy by design: shedding load would refuse requests at random (as in
  // testConfig); tests of shedding set it themselves.
  SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
};

/**
 * Starts `kith <command>` with `env` over the defaults (plus PATH, and a DATA_DIR unless given);
 * resolves once it logged `ready` ('kith is serving' or 'kith worker is running').
 */
export async function startKith(
  command: 'serve' | 'worker',
  env: Record<string, string | undefined>,
  ready = command === 'serve' ? 'kith is serving' : 'kith worker is running',
): Promise<KithProcess> {
  const child = spawn(process.execPath, [MAIN, command], {
    env: { PATH: process.env.PATH, DATA_DIR: dataDir(), ...processDefaults, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const parsed = (line: string) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return {};
    }
  };
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const entry = parsed(line);
      if (entry.msg === ready) resolve(typeof entry.url === 'string' ? entry.url : '');
    });
    void exited.then(({ code }) =>
      reject(new Error(`kith ${command} exited ${code}: ${lines.join('\n')}`)),
    );
  });
  return {
    child,
    url,
    lines,
    exited,
    logged: (msg) => lines.map(parsed).filter((entry) => entry.msg === msg),
  };
}

/** Sum of the samples of `name` with these labels in a Prometheus text body (0 when none). */
export function sample(body: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [, metric, raw = '', value] of body.matchAll(/^(\w+)(?:\{(.*)\})? (\S+)$/gm)) {
    const have = Object.fromEntries([...raw.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (metric === name && Object.entries(labels).every(([k, v]) => have[k] === v))
      total += Number(value);
  }
  return total;
}
