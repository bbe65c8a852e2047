#!/usr/bin/env node
/**
 * A kith cluster on loopback without containers: API processes (`ROLES=api`), one worker
 * (`ROLES=worker`) and Debian's nginx in front, configured from the same template as the
 * deployment (deploy/nginx/templates/default.conf.template), on the real Postgres, Redis and
 * RabbitMQ (the machine's own by default). Ctrl-C stops everything.
 *
 *   npm run cluster -- --nodes 3 --port 8080
 *
 * Every kith setting comes from the environment as usual (see `npm run kith -- config`);
 * DATABASE_URL, REDIS_URL and AMQP_URL default to 127.0.0.1, and the database is created when
 * it does not exist yet. The multi-node test (test/cluster.e2e.test.ts) uses the exports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';

const REPO = new URL('..', import.meta.url).pathname;
const MAIN = join(REPO, 'src/main.ts');
export const NGINX_TEMPLATE = join(REPO, 'deploy/nginx/templates/default.conf.template');

export type Env = Record<string, string | undefined>;

/** One child process of the cluster, with the output it printed so far. */
export interface ClusterProcess {
  name: string;
  child: ChildProcess;
  /** The lines it printed (stdout and stderr), the most recent 20 000. */
  lines: string[];
  /** Where it serves: the API URL, the worker's metrics URL, nginx's URL. */
  url: string;
  /** Resolves with the exit code (null when ended by a signal). */
  exited: Promise<number | null>;
}

export interface ClusterOptions {
  /** Number of API processes (at least 1). */
  apiNodes: number;
  /** Environment of every kith process: DATABASE_URL, REDIS_URL, AMQP_URL, prefixes, … */
  env: Env;
  /** nginx's port on 127.0.0.1; 0 picks a free one. */
  port?: number;
  /** nginx binary; found on PATH, /usr/sbin or NGINX_BIN otherwise. */
  nginx?: string;
  /** Called for every line a process prints (the CLI shows them). */
  onLine?: (name: string, line: string) => void;
}

export interface Cluster {
  /** nginx's address: the one URL clients use. */
  url: string;
  api: ClusterProcess[];
  worker: ClusterProcess;
  nginx: ClusterProcess;
  /** The folder holding nginx's rendered configuration, logs and temp files. */
  dir: string;
  /** Stops nginx, the API nodes and the worker (SIGTERM, SIGKILL after `graceMs`). */
  stop(graceMs?: number): Promise<void>;
}

/** The nginx binary to use, or undefined when none is installed. */
export function findNginx(env: Env = process.env): string | undefined {
  if (env.NGINX_BIN) return existsSync(env.NGINX_BIN) ? env.NGINX_BIN : undefined;
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  return dirs.map((dir) => join(dir, 'nginx')).find((file) => isAbsolute(file) && existsSync(file));
}

/** Fills the template's `${KITH_*}` placeholders; a placeholder without a value is an error. */
export function renderTemplate(template: string, vars: Record<string, string>): string {
  return template.replace(/\$\{(KITH_[A-Z_]+)\}/g, (_, name: string) => {
    const value = vars[name];
    if (value === undefined) throw new Error(`no value for \${${name}} in the nginx template`);
    return value;
  });
}

/** The upstream `server` lines for API nodes at these URLs. */
export function upstreamServers(urls: readonly string[]): string {
  return urls.map((u) => `server ${new URL(u).host} max_fails=1 fail_timeout=5s;`).join('\n    ');
}

/** A main nginx.conf for an unprivileged nginx whose every file lives in `dir`. */
export function nginxMainConfig(dir: string, site: string): string {
  // As root the workers would switch to `nobody`, which cannot write into our 0700 folder.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  return `# Rendered by scripts/cluster.ts; the site itself comes from deploy/nginx.
daemon off;
master_process on;
worker_processes 2;
pid ${dir}/nginx.pid;
error_log stderr notice;
${user}
events {
    worker_connections 1024;
}
http {
    default_type application/octet-stream;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    include ${site};
}
`;
}

/** A port that was free a moment ago (nginx start is retried if another process took it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const MAX_LINES = 20_000;

type Ready = (entry: Record<string, unknown>) => string | undefined;

/** Spawns a process; `until` resolves with the first URL `ready` finds in its log lines. */
function launch(
  name: string,
  command: string,
  args: string[],
  env: Env,
  onLine?: ClusterOptions['onLine'],
) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  alive.add(child);
  const lines: string[] = [];
  const entries: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    const end = (code: number | null) => {
      alive.delete(child);
      resolve(code);
      for (const wake of waiters) wake();
    };
    child.once('exit', end);
    // A command that cannot start (ENOENT) emits no exit.
    child.once('error', (err) => ((spawnError = err), lines.push(err.message), end(-1)));
  });
  const take = (line: string) => {
    lines.push(line);
    onLine?.(name, line);
    try {
      entries.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      entries.push({ line }); // nginx and crash output are plain text
    }
    // A long-running cluster logs every request: keep only the recent lines.
    if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
    if (entries.length > MAX_LINES) entries.splice(0, entries.length - MAX_LINES);
    for (const wake of waiters) wake();
  };
  createInterface({ input: child.stdout }).on('line', take);
  createInterface({ input: child.stderr }).on('line', take);
  const failed = () =>
    new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${lines.join('\n')}`);
  /** The first URL `ready` finds in a log line; rejects if the process exits first. */
  const until = (ready: Ready) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const url = entries.map(ready).find(Boolean);
        const gone = child.exitCode !== null || child.signalCode !== null || !!spawnError;
        if (!url && !gone) return;
        waiters.delete(check);
        if (url) resolve(url);
        else reject(failed());
      };
      waiters.add(check);
      check();
    });
  return { name, child, lines, exited, until, failed };
}

const alive = new Set<ChildProcess>();
// Never leave processes behind, even when the caller forgets to stop or crashes.
process.once('exit', () => {
  for (const child of alive) child.kill('SIGKILL');
});

/** Ends a process: `signal`, then SIGKILL if it has not exited after `graceMs`. */
export async function terminate(
  p: Pick<ClusterProcess, 'child' | 'exited'>,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 15_000,
): Promise<number | null> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return p.exited;
  p.child.kill(signal);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** `kith migrate` with this environment; throws with its output when it fails. */
export async function migrate(env: Env, onLine?: ClusterOptions['onLine']): Promise<void> {
  const p = launch('migrate', process.execPath, [MAIN, 'migrate'], env, onLine);
  if ((await p.exited) !== 0) throw p.failed();
}

/** Starts the worker, the API nodes and nginx; the database must be migrated. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const nginxBin = options.nginx ?? findNginx();
  if (!nginxBin) throw new Error('nginx is not installed (Debian: apt-get install -y nginx)');
  const started: Pick<ClusterProcess, 'child' | 'exited'>[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'kith-cluster-'));
  const stop = async (graceMs = 15_000) => {
    // nginx first (no new requests), then the API nodes drain, then the worker.
    for (const p of [...started].reverse()) await terminate(p, 'SIGTERM', graceMs);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const kith = async (name: string, roles: string, extra: Env, ready: Ready) => {
      const own = { ROLES: roles, NODE_NAME: name, HOST: '127.0.0.1' };
      // Every node writes media to one folder, which nginx serves.
      const media = { MEDIA_DIR: join(dir, 'media') };
      const env = { MIGRATE_ON_START: 'false', ...media, ...options.env, ...own };
      const p = launch(
        name,
        process.execPath,
        [MAIN, 'serve'],
        { ...env, ...extra },
        options.onLine,
      );
      started.push(p);
      return { ...p, url: await p.until(ready) };
    };
    // Started together: each process spends a few seconds loading.
    const [worker, ...api] = await Promise.all([
      kith('worker', 'worker', { METRICS_PORT: '0' }, (e) =>
        e.msg === 'worker started' && typeof e.metrics === 'string' ? e.metrics : undefined,
      ),
      ...Array.from({ length: options.apiNodes }, (_, i) =>
        // nginx is the proxy the nodes believe X-Forwarded-For from.
        kith(`api-${i + 1}`, 'api', { PORT: '0', TRUST_PROXY: '127.0.0.1' }, (e) =>
          e.msg === 'kith is serving' && typeof e.url === 'string' ? e.url : undefined,
        ),
      ),
    ]);
    const nginx = await startNginx(nginxBin, dir, api, options, started);
    return { url: nginx.url, api, worker, nginx, dir, stop };
  } catch (err) {
    await stop(2_000);
    throw err;
  }
}

async function startNginx(
  bin: string,
  dir: string,
  api: readonly ClusterProcess[],
  options: ClusterOptions,
  started: Pick<ClusterProcess, 'child' | 'exited'>[],
): Promise<ClusterProcess> {
  const template = await readFile(NGINX_TEMPLATE, 'utf8');
  const site = join(dir, 'kith.conf');
  const conf = join(dir, 'nginx.conf');
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
    await mkdir(join(dir, sub), { recursive: true });
  await writeFile(conf, nginxMainConfig(dir, site));
  // A free port can be taken between the check and nginx's bind: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = options.port || (await freePort());
    await writeFile(
      site,
      renderTemplate(template, {
        KITH_LISTEN: `127.0.0.1:${port}`,
        KITH_UPSTREAM_SERVERS: upstreamServers(api.map((p) => p.url)),
        KITH_ACCESS_LOG: join(dir, 'access.log'),
        KITH_MEDIA_DIR: options.env?.MEDIA_DIR ?? join(dir, 'media'),
      }),
    );
    const url = `http://127.0.0.1:${port}`;
    const p = launch(
      'nginx',
      bin,
      ['-p', `${dir}/`, '-c', conf, '-e', 'stderr'],
      {},
      options.onLine,
    );
    started.push(p);
    if (await listening(port, p.exited)) return { ...p, url };
    if (attempt >= 3 || options.port) throw p.failed();
  }
}

/** True once the port accepts connections; false if the process exits first. */
async function listening(port: number, exited: Promise<unknown>): Promise<boolean> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 10_000;
  while (!gone && Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => (socket.end(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open && !gone) return true;
    await delay(25);
  }
  return false;
}

// --- npm run cluster -----------------------------------------------------------------------

const USAGE = `Usage: npm run cluster -- [--nodes N] [--port PORT] [--quiet]

  --nodes N     API processes behind nginx (default 3)
  --port PORT   nginx's port on 127.0.0.1 (default 8080; 0 picks a free one)
  --quiet       show only warnings and errors of the processes`;

/** Creates the database of DATABASE_URL when it is missing (a first run). */
async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({
    connectionString: admin.toString(),
    connectionTimeoutMillis: 5000,
  });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`create database "${name.replaceAll('"', '""')}"`);
      console.log(`created database ${name}`);
    }
  } finally {
    await client.end();
  }
}

interface LogEntry {
  level?: number;
  msg?: string;
  url?: string;
  metrics?: string;
  req?: { method: string; url: string };
  res?: { statusCode: number };
  responseTime?: number;
  err?: { type: string; message: string };
}
const LEVELS: Record<number, string> = {
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};

/** Prints a process's line readably: `api-2    info  request completed  200 3ms`. */
function printer(width: number, quiet: boolean) {
  return (name: string, line: string): void => {
    const tag = name.padEnd(width);
    let e: LogEntry;
    try {
      e = JSON.parse(line) as LogEntry;
    } catch {
      if (!quiet || /\[(warn|error|crit|alert|emerg)\]/.test(line)) console.log(`${tag}  ${line}`);
      return;
    }
    if (quiet && (e.level ?? 0) < 40) return;
    const extra = [
      e.req && `${e.req.method} ${e.req.url.split('?')[0]}`,
      e.res && `${e.res.statusCode} ${Math.round(e.responseTime ?? 0)}ms`,
      e.err && `${e.err.type}: ${e.err.message}`,
      e.url,
      e.metrics,
    ].filter(Boolean);
    const level = LEVELS[e.level ?? 0] ?? String(e.level);
    console.log(`${tag}  ${level.padEnd(5)} ${e.msg ?? ''}  ${extra.join(' ')}`);
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '3' },
      port: { type: 'string', default: '8080' },
      quiet: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const nodes = Number(values.nodes);
  const port = Number(values.port);
  if (values.help || !Number.isInteger(nodes) || nodes < 1 || !Number.isInteger(port) || port < 0) {
    console.log(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  if (!findNginx()) {
    console.error('nginx is not installed. Debian/Ubuntu: sudo apt-get install -y nginx');
    process.exit(1);
  }
  const env: Env = {
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/kith',
    REDIS_URL: 'redis://127.0.0.1:6379',
    AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
    DATA_DIR: './data/cluster',
    ...Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== '')),
  };
  const show = printer(Math.max('migrate'.length, `api-${nodes}`.length), values.quiet);
  await ensureDatabase(env.DATABASE_URL!);
  // Once, before the nodes start; it also creates the development JWT secret in DATA_DIR
  // that every process then reads (unless JWT_SECRET is set).
  await migrate(env, show);
  const cluster = await startCluster({ apiNodes: nodes, env, port, onLine: show });
  const rows = [...cluster.api, cluster.worker].map(
    (p) => `  ${p.name.padEnd(8)} ${p.url.padEnd(32)} pid ${p.child.pid}`,
  );
  console.log(`
kith cluster on ${cluster.url}  (nginx, least connections, ${nodes} API nodes)
${rows.join('\n')}
  database ${new URL(env.DATABASE_URL!).pathname.slice(1)}, Redis prefix ${env.REDIS_PREFIX ?? 'kith:'}, AMQP prefix ${env.AMQP_PREFIX ?? 'kith'}
  try: curl -i ${cluster.url}/healthz   (X-Kith-Node names the node); Ctrl-C stops everything
`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping nginx, the API nodes and the worker…`);
    cluster.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // A process that dies on its own is reported; the others keep serving.
  for (const p of [cluster.nginx, cluster.worker, ...cluster.api])
    void p.exited.then((code) => stopping || console.error(`${p.name} exited (${code})`));
}

if (import.meta.main) await main();
