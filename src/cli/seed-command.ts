import { randomBytes, randomInt } from 'node:crypto';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { loadConfig, type Config } from '../config.ts';
import { createContext } from '../app/context.ts';
import { createLogger } from '../logger.ts';
import { Progress, type ProgressStream } from './progress.ts';
import { SeedConflictError, seedDatabase, type SeedSummary } from './seed.ts';

export const SEED_USAGE = `Usage: kith seed [--users N] [--posts-per-user M] [--seed S] [--password P] [--prefix X] [--days D]

Fills the database (DATABASE_URL, or the embedded one under DATA_DIR) with a realistic social
graph: power-law followers (a few very popular accounts), friendships (following each other),
posts, likes and comments, written in one transaction with every counter exact.

  --users N            users to create (default 1000)
  --posts-per-user M   mean posts per user, spread unevenly (default 10)
  --seed S             seed of the generator: the same S gives the same graph (default random)
  --password P         password of every seeded user (default generated, printed and written
                       to DATA_DIR/seed-credentials.txt)
  --prefix X           prepended to usernames, to seed again next to earlier data (default none)
  --days D             posts are spread over the last D days (default 28)

Stop a server that uses the embedded database first: PGlite serves one process at a time.`;

interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Where the progress display goes (a terminal gets a line rewritten in place). */
  progress: ProgressStream;
}

const stdio: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  progress: process.stderr,
};

class UsageError extends Error {}

/** The whole graph is built in memory first: beyond this, use several runs with --prefix. */
const MAX_USERS = 200_000;

function integer(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
) {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** True when a kith server on the embedded database answers on this machine's PORT. */
async function embeddedServerRunning(config: Config): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${config.port}/readyz`, {
      signal: AbortSignal.timeout(1_000),
    });
    return ((await res.json()) as { database?: string }).database === 'pglite';
  } catch {
    return false;
  }
}

const n = (value: number) => value.toLocaleString('en-US');

function summaryText(
  s: SeedSummary,
  where: string,
  password: string,
  setupMs: number,
  totalMs: number,
): string {
  const rows = [
    ['users', s.users],
    ['follows', s.follows],
    ['friendships', s.friendships],
    ['posts', s.posts],
    ['likes', s.likes],
    ['comments', s.comments],
  ] as const;
  return [
    `Seeded ${where} in ${(totalMs / 1000).toFixed(1)} s ` +
      `(set-up ${(setupMs / 1000).toFixed(1)} s, generate ${(s.ms.generate / 1000).toFixed(1)} s, ` +
      `write ${(s.ms.write / 1000).toFixed(1)} s):`,
    ...rows.map(([name, value]) => `  ${name.padEnd(12)}${n(value).padStart(10)}`),
    `  (friendships are pairs, each stored both ways with follows both ways)`,
    `Most followed: ${s.top.map((t) => `${t.username} (${n(t.followers)})`).join(', ')}`,
    `Every seeded user's password: ${password}` +
      (s.firstUsername ? `  (e.g. log in as ${s.firstUsername})` : ''),
    'Home timelines are built on each user’s first feed read; seeded rows raise no notifications.',
  ].join('\n');
}

/** `kith seed …`: resolves with the exit code. */
export async function seedCommand(argv: string[], io: Output = stdio): Promise<number> {
  const started = performance.now();
  let options;
  try {
    const { values } = parseArgs({
      args: argv,
      options: {
        users: { type: 'string' },
        'posts-per-user': { type: 'string' },
        seed: { type: 'string' },
        password: { type: 'string' },
        prefix: { type: 'string', default: '' },
        days: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.help) {
      io.out(SEED_USAGE);
      return 0;
    }
    if (!/^[a-z0-9_]{0,12}$/.test(values.prefix)) {
      throw new UsageError('--prefix must be at most 12 of a-z, 0-9 and _');
    }
    if (values.password !== undefined && values.password.length < 8) {
      throw new UsageError('--password must be at least 8 characters');
    }
    options = {
      users: integer(values.users, 'users', 1, MAX_USERS, 1000),
      postsPerUser: integer(values['posts-per-user'], 'posts-per-user', 0, 1000, 10),
      seed: integer(values.seed, 'seed', 0, 2 ** 32 - 1, randomInt(2 ** 32 - 1)),
      days: integer(values.days, 'days', 1, 3650, 28),
      prefix: values.prefix,
      password: values.password,
    };
  } catch (err) {
    io.err(`kith seed: ${(err as Error).message}\n\n${SEED_USAGE}`);
    return 2;
  }

  const config = loadConfig();
  if (!config.databaseUrl && (await embeddedServerRunning(config))) {
    io.err(
      `kith seed: a kith server on the embedded database answers on port ${config.port}; stop it first (PGlite serves one process at a time), then seed and start it again.`,
    );
    return 1;
  }
  const password = options.password ?? `seed-${randomBytes(9).toString('base64url')}`;
  // Only the database is needed: no Redis, no broker (nothing is cached or published).
  const ctx = await createContext(
    { ...config, redisUrl: undefined, amqpUrl: undefined },
    { log: createLogger('warn') },
  );
  const where =
    ctx.database.kind === 'postgres'
      ? 'Postgres (DATABASE_URL)'
      : `PGlite (${relative(process.cwd(), join(config.dataDir, 'pglite')) || '.'})`;
  let summary: SeedSummary;
  let setupMs: number;
  try {
    io.err(
      `kith seed: ${n(options.users)} user${options.users === 1 ? '' : 's'}, ~${options.postsPerUser} posts each, seed ${options.seed}, into ${where}`,
    );
    setupMs = performance.now() - started;
    const progress = new Progress(io.progress, { unit: 'rows' });
    summary = await seedDatabase(ctx.database.db, {
      ...options,
      password,
      bcryptCost: config.bcryptCost,
      fanoutMaxFollowers: config.feedFanoutMaxFollowers,
      onProgress: (done, total, table) => progress.update(done, total, table),
    });
    progress.finish(summary.rows);
  } catch (err) {
    if (!(err instanceof SeedConflictError)) throw err;
    io.err(`kith seed: ${err.message}`);
    return 1;
  } finally {
    await ctx.close();
  }
  io.out(summaryText(summary, where, password, setupMs, performance.now() - started));
  if (!options.password) {
    const file = join(config.dataDir, 'seed-credentials.txt');
    mkdirSync(config.dataDir, { recursive: true });
    appendFileSync(
      file,
      `${new Date().toISOString()}  ${where}  ${n(summary.users)} users ` +
        `(${summary.firstUsername} …, seed ${options.seed})  password: ${password}\n`,
      { mode: 0o600 },
    );
    io.out(`Password also written to ${file}`);
  }
  return 0;
}
