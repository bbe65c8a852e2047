/**
 * kith for a benchmark: the api and worker roles in this process, on a random port, on one of
 * two stacks. Embedded (default): in-memory PGlite, in-memory timelines and cache, in-process bus.
 * Real (`--real` or BENCH_REAL=1): the Postgres, Redis and RabbitMQ of DATABASE_URL, REDIS_URL and
 * AMQP_URL, under names of its own (a fresh database `kith_bench_<random>`, key and queue
 * prefixes `kith_bench_<random>`) that are removed again when it stops. Load shedding is off
 * (SHED_MAX_EVENT_LOOP_DELAY_MS=0) unless BENCH_SHEDDING=1.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { sql } from 'kysely';
import pg from 'pg';
import { Connection } from 'rabbitmq-client';
import { loadConfig, SETTINGS, type Env } from '../src/config.ts';
import { createContext, type Context } from '../src/app/context.ts';
import { amqpTopology } from '../src/infra/bus/rabbitmq-bus.ts';
import { createPGlite } from '../src/infra/db/database.ts';
import { startApi, type RunningRole } from '../src/app/roles/api.ts';
import { startWorker } from '../src/app/roles/worker.ts';

export const REAL_DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
  REDIS_URL: 'redis://127.0.0.1:6379',
  AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
} as const;

/** Settings not worth recording (secrets, or chosen by this module for every run). */
const HIDDEN = new Set(['JWT_SECRET', 'HOST', 'PORT', 'NODE_ENV', 'ROLES']);

export type StackKind = 'embedded' | 'real';

/** How long a role may take to stop before the run gives up on it and cleans up anyway. */
const ROLE_STOP_MS = 30_000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface KithUnderTest {
  ctx: Context;
  /** Origin of the HTTP API, e.g. http://127.0.0.1:40123. */
  url: string;
  kind: StackKind;
  /** What it runs on, with versions, for the results. */
  description: string;
  /** The kith settings this run used that differ from the defaults (secrets left out). */
  settings: Record<string, string>;
  /** Stops both roles, closes the context and removes what the run created. Idempotent. */
  stop(): Promise<void>;
}

/** True when BENCH_SHEDDING=1 asks to keep kith's load shedding on (it is off by default). */
export const sheddingKept = (env: Env = process.env): boolean =>
  ['1', 'true', 'yes'].includes((env.BENCH_SHEDDING ?? '').toLowerCase());

/** True when the real stack was asked for on the command line or in the environment. */
export const wantsReal = (argv: readonly string[], env: Env = process.env): boolean =>
  argv.includes('--real') || ['1', 'true', 'yes'].includes((env.BENCH_REAL ?? '').toLowerCase());

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

async function deleteAmqp(
  url: string,
  prefix: string,
  groups: readonly string[],
  retries: number,
): Promise<void> {
  const admin = new Connection(url);
  const names = amqpTopology(prefix);
  try {
    for (const group of groups) {
      for (let n = 1; n <= retries; n++) await admin.queueDelete(names.retry(group, n));
      await admin.queueDelete(names.queue(group));
      await admin.queueDelete(names.dead(group));
    }
    await admin.exchangeDelete({ exchange: names.events });
    await admin.exchangeDelete({ exchange: names.broadcast });
  } finally {
    await admin.close();
  }
}

/**
 * Starts kith with `env` (kith settings the scenario needs) over the process environment. The
 * stack's own variables (URLs, prefixes, HOST, PORT, secrets) are always chosen here.
 */
export async function startKith(kind: StackKind, env: Env = {}): Promise<KithUnderTest> {
  const id = `kith_bench_${randomBytes(4).toString('hex')}`;
  const cleanups: (() => Promise<void>)[] = [];
  const stack: Env = {
    NODE_ENV: 'production',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    HOST: '127.0.0.1',
    PORT: '0',
    ROLES: 'api,worker',
  };
  const server = process.env.DATABASE_URL || REAL_DEFAULTS.DATABASE_URL;
  if (kind === 'real') {
    Object.assign(stack, {
      DATABASE_URL: withDatabase(server, id),
      REDIS_URL: process.env.REDIS_URL || REAL_DEFAULTS.REDIS_URL,
      REDIS_PREFIX: `${id}:`,
      AMQP_URL: process.env.AMQP_URL || REAL_DEFAULTS.AMQP_URL,
      AMQP_PREFIX: id,
    });
  } else {
    Object.assign(stack, { DATABASE_URL: '', REDIS_URL: '', AMQP_URL: '' });
  }
  const overrides: Env = {
    LOG_LEVEL: process.env.LOG_LEVEL || 'warn',
    // Load shedding off, unless BENCH_SHEDDING=1: autocannon ignores Retry-After and sends a
    // shed request straight back, so a run would measure how fast kith says 503, not its capacity.
    ...(sheddingKept() ? {} : { SHED_MAX_EVENT_LOOP_DELAY_MS: '0' }),
    ...env,
    ...stack,
  };
  const config = loadConfig({ ...process.env, ...overrides });

  const roles: RunningRole[] = [];
  let ctx: Context | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      const failures: unknown[] = [];
      const attempt = (fn: () => Promise<unknown>) =>
        fn().catch((err: unknown) => void failures.push(err));
      // A role that cannot stop (a connection it never lets go) must not keep the run's
      // database and prefixes from being removed.
      for (const role of roles.reverse())
        await attempt(() => withTimeout(role.stop(), ROLE_STOP_MS, 'stopping a kith role'));
      if (ctx) await attempt(() => ctx!.close());
      for (const cleanup of cleanups.reverse()) await attempt(cleanup);
      if (failures.length > 0) throw new AggregateError(failures, 'benchmark cleanup failed');
    })());

  try {
    if (kind === 'real') {
      await adminQuery(server, `create database ${id}`);
      cleanups.push(() => adminQuery(server, `drop database if exists ${id} with (force)`));
      cleanups.push(() => deleteRedisKeys(config.redisUrl!, config.redisPrefix));
    }
    ctx = await createContext(config, {
      ...(kind === 'embedded' ? { pglite: await createPGlite() } : {}),
      migrate: true,
    });
    if (kind === 'real') {
      const groups = ctx.consumers.map((c) => c.group);
      const retries = config.consumerRetryDelays.length;
      cleanups.push(() => deleteAmqp(config.amqpUrl!, config.amqpPrefix, groups, retries));
    }
    roles.push(await startWorker(ctx));
    const api = await startApi(ctx);
    roles.push(api);
    const merged: Env = { ...process.env, ...overrides };
    const settings: Record<string, string> = {};
    for (const { env: name } of Object.values(SETTINGS)) {
      const value = merged[name];
      if (value && !HIDDEN.has(name) && !name.endsWith('_URL')) settings[name] = value;
    }
    return {
      ctx,
      url: api.url,
      kind,
      description: await describe(ctx, kind),
      settings,
      stop,
    };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function describe(ctx: Context, kind: StackKind): Promise<string> {
  const { rows } = await sql<{
    server_version: string;
  }>`show server_version`.execute(ctx.database.db);
  const pgVersion = rows[0]?.server_version.split(' ')[0] ?? '?';
  if (kind === 'embedded') {
    return `embedded: PGlite (Postgres ${pgVersion}) in memory, in-memory timelines and cache, in-process bus`;
  }
  const info = ctx.redis ? await ctx.redis.info('server') : '';
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? '?';
  return `real: Postgres ${pgVersion} (pool of ${ctx.config.databasePoolSize}), Redis ${redisVersion}, RabbitMQ`;
}
