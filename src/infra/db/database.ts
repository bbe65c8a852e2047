import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { unaccent } from '@electric-sql/pglite/contrib/unaccent';
import {
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  type KyselyPlugin,
  type MigrationResult,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import { usePreparedStatements } from './prepared.ts';
import {
  chargeDatabaseTime,
  countStatement,
  currentBudget,
  DatabaseDeadlineError,
  databaseTimeLeft,
} from './deadline.ts';
import { DatabaseSaturatedError, Lane, OPEN_LANE } from './lane.ts';
import pg from 'pg';
import { PGliteDialect } from './pglite-dialect.ts';
import { migrations } from './migrations/index.ts';
import type { DB } from './schema.ts';

export type { DB } from './schema.ts';

/** The database port: a Kysely instance plus what the process needs to manage it. */
export interface Database {
  readonly db: Kysely<DB>;
  readonly kind: 'pglite' | 'postgres';
  /** How many statements this process has sent (what tests count to prove a read is SQL-free). */
  statements(): number;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /**
   * Where slow reads run (feeds rebuilt from SQL, search): a share of the pool, so they never
   * hold every connection. Full, it refuses at once with DatabaseSaturatedError.
   */
  readonly slow: Lane;
  /** Pooled connections in use, and requests waiting for one (PGlite: none). */
  pool(): { busy: number; waiting: number };
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  poolSize: number;
  /** Postgres: how long a query waits for a connection (new, or free in the pool). */
  connectTimeoutMs?: number;
  /** Postgres: the server's `statement_timeout`; a silent connection is dropped a little later. 0: none. */
  statementTimeoutMs?: number;
  /**
   * Postgres: requests that may wait for a pooled connection at once; a request's query beyond
   * them is refused at once (DatabaseSaturatedError). 0: no bound. Work outside requests waits.
   */
  maxWaiting?: number;
  /** Postgres: connections the slow lane may hold at once (0: half the pool, at least 1). */
  slowConnections?: number;
}

/** Defaults of the Postgres timeouts (as in the configuration). */
export const POSTGRES_TIMEOUTS = {
  connectTimeoutMs: 2_000,
  statementTimeoutMs: 10_000,
  maxWaiting: 0,
  slowConnections: 0,
};
/** How much longer than `statement_timeout` a query may go without any answer (not even the
 * server's cancel) before its connection is taken for dead. */
const SILENCE_MARGIN_MS = 2_000;

const INT8 = 20;
const DATE = 1082;
// Counts (int8) fit a JS number; dates stay 'YYYY-MM-DD' strings so no time zone shifts them.
const parseInt8 = (v: string) => Number(v);
const keepText = (v: string) => v;

/** Wraps a close function so calling it twice is harmless. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

/** Counts the statements Kysely compiles (each is sent once): builders and raw `sql` alike. */
class StatementCounter implements KyselyPlugin {
  count = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    this.count++;
    countStatement();
    return args.node;
  }
  transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return Promise.resolve(args.result);
  }
}

/** Raised when another live process holds the embedded database. */
export class DatabaseInUseError extends Error {
  override name = 'DatabaseInUseError';
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * One process at a time on an embedded database: PGlite has no lock of its own, and two
 * processes on one folder silently lose each other's writes. A lock file holds the owner's
 * pid; one left by a process that is gone is taken over. Returns the release.
 */
function lockDataDir(dataDir: string): () => void {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'pglite.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number(readFileSync(file, 'utf8'));
      if (owner > 0 && alive(owner)) {
        throw new DatabaseInUseError(
          `the embedded database in ${dataDir} is in use by another kith process (pid ${owner}); stop it, or set another DATA_DIR or DATABASE_URL`,
        );
      }
      rmSync(file, { force: true }); // left by a process that is gone
    }
  }
  throw new DatabaseInUseError(`could not lock the embedded database in ${dataDir}`);
}

/** Opens Postgres when a URL is given, otherwise PGlite (in `dataDir/pglite`, or the given instance). */
export async function openDatabase(opts: DatabaseOptions, existing?: PGlite): Promise<Database> {
  if (opts.databaseUrl) return openPostgres(opts.databaseUrl, { ...POSTGRES_TIMEOUTS, ...opts });
  const release = existing ? () => {} : lockDataDir(opts.dataDir);
  let pglite: PGlite;
  try {
    pglite = existing ?? (await createPGlite(join(opts.dataDir, 'pglite')));
  } catch (err) {
    release();
    throw err;
  }
  const counter = new StatementCounter();
  const db = new Kysely<DB>({ dialect: new PGliteDialect(pglite), plugins: [counter] });
  return {
    db,
    kind: 'pglite',
    statements: () => counter.count,
    ping: async () => void (await sql`select 1`.execute(db)),
    slow: OPEN_LANE,
    pool: () => ({ busy: 0, waiting: 0 }),
    close: once(async () => {
      await db.destroy();
      await pglite.close();
      release();
    }),
  };
}

/** A PGlite instance with kith's type parsers; `dataDir` undefined means in memory. */
export async function createPGlite(dataDir?: string, loadDataDir?: Blob): Promise<PGlite> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const pglite = new PGlite({
    ...(dataDir ? { dataDir } : {}),
    ...(loadDataDir ? { loadDataDir } : {}),
    parsers: { [pgliteTypes.INT8]: parseInt8, [pgliteTypes.DATE]: keepText },
    // Contrib extensions are loaded when the instance starts (search: migration 0011).
    extensions: { pg_trgm, unaccent },
  });
  await pglite.waitReady;
  return pglite;
}

function openPostgres(
  connectionString: string,
  opts: Required<Omit<DatabaseOptions, 'databaseUrl' | 'dataDir'>>,
): Database {
  const statement = opts.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString,
    max: opts.poolSize,
    // Bounds both connecting and waiting for a free pooled connection: an unreachable database
    // answers 503 within this, instead of holding requests until the client gives up.
    connectionTimeoutMillis: opts.connectTimeoutMs,
    // Lets the OS notice a server that vanished without closing the connection.
    keepAlive: true,
    keepAliveInitialDelayMillis: 1_000,
    // The server side of a client that went silent inside a transaction: its locks are freed.
    idle_in_transaction_session_timeout: Math.max(statement, 10_000),
    // The server cancels a statement running too long (a lock wait, overload); a connection
    // that stays silent even past that (a cut network) fails its query on the client side.
    ...(statement > 0 && {
      statement_timeout: statement,
      query_timeout: statement + SILENCE_MARGIN_MS,
    }),
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
        if (oid === INT8) return parseInt8;
        if (oid === DATE) return keepText;
        return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
      }) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its server must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  // Nor one in use: its query fails (the request answers 503), but the client also emits
  // 'error', which the pool listens for only while the client is idle; unheard, Node would
  // crash the process on it. The pool drops the broken client when it is released.
  pool.on('connect', (client) => client.on('error', () => {}));
  // Innermost first: each query gets its request's database time left as query_timeout.
  pool.on('connect', withinDeadline);
  pool.on('connect', usePreparedStatements);
  pool.on('connect', dropWhenSilent);
  // Waiting for a pooled connection is charged to the request's database time too.
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
  const room: WaitingRoom = {
    max: opts.maxWaiting,
    waiting: 0,
    free: () => pool.idleCount > 0 || pool.totalCount < opts.poolSize,
  };
  Object.assign(pool, { connect: (...args: unknown[]) => connectWithin(connect, args, room) });
  const slowSize = opts.slowConnections || Math.max(1, Math.floor(opts.poolSize / 2));
  const counter = new StatementCounter();
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }), plugins: [counter] });
  return {
    db,
    kind: 'postgres',
    statements: () => counter.count,
    ping: async () => void (await sql`select 1`.execute(db)),
    slow: new Lane(slowSize, slowSize * 2),
    pool: () => ({ busy: pool.totalCount - pool.idleCount, waiting: room.waiting }),
    close: once(() => db.destroy()),
  };
}

/** Requests waiting for a pooled connection, and how many may (0: any number). */
interface WaitingRoom {
  readonly max: number;
  waiting: number;
  /** Whether a connection is to be had without waiting (idle, or room to open one). */
  free(): boolean;
}

/**
 * `pool.connect()` for a request: bounded by the database time it has left, and charged to it
 * (the pool's own connectionTimeoutMillis still applies); a client that arrives after the caller
 * gave up goes back to the pool. A request that would wait behind `room.max` others is refused
 * at once: it would wait for seconds and then likely time out anyway. Work outside requests
 * (the worker's consumers, jobs) always waits, and is not counted.
 */
function connectWithin(
  connect: (...args: unknown[]) => Promise<pg.PoolClient>,
  args: unknown[],
  room: WaitingRoom,
): Promise<pg.PoolClient> {
  if (args.length > 0 || !currentBudget()) return connect(...args); // callback style, or no request
  if (room.max > 0 && room.waiting >= room.max && !room.free()) {
    return Promise.reject(new DatabaseSaturatedError('connection pool saturated'));
  }
  const left = databaseTimeLeft();
  if (left !== undefined && left <= 0) return Promise.reject(new DatabaseDeadlineError());
  room.waiting++;
  const waiting = new Promise<pg.PoolClient>((resolve, reject) => {
    let late = false;
    const timer =
      left === undefined
        ? undefined
        : setTimeout(() => {
            late = true;
            reject(new DatabaseDeadlineError());
          }, left);
    connect()
      .then((client) => {
        if (late) client.release();
        else resolve(client);
      }, reject)
      .finally(() => {
        clearTimeout(timer);
        room.waiting--;
      });
  });
  return chargeDatabaseTime(waiting);
}

/**
 * Gives each query the database time its request has left as its `query_timeout` (when shorter
 * than the pool's), and charges what it took: a connection that goes silent fails the query with
 * 'Query read timeout' when the budget is spent, and `dropWhenSilent` discards it. A query after
 * that does not start.
 */
function withinDeadline(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const fallback = (client as unknown as { connectionParameters?: { query_timeout?: number } })
    .connectionParameters?.query_timeout;
  Object.assign(client, {
    query: (...args: unknown[]) => {
      const left = databaseTimeLeft();
      if (left === undefined) return query(...args);
      if (left <= 0) return Promise.reject(new DatabaseDeadlineError());
      const timeout = Math.ceil(fallback ? Math.min(fallback, left) : left);
      const [first, second] = args;
      const charged = (result: unknown) =>
        result instanceof Promise ? chargeDatabaseTime(result) : result;
      if (typeof first === 'string' && (args.length === 1 || Array.isArray(second)))
        return charged(query({ text: first, values: second, query_timeout: timeout }));
      if (args.length === 1 && first && typeof first === 'object' && !('submit' in first))
        return charged(query({ ...first, query_timeout: timeout }));
      return query(...args);
    },
  });
}

/**
 * A query that timed out on the client side still occupies its connection (its answer may never
 * come): end the client, which destroys the socket and makes the pool replace it rather than
 * queue the next request behind the silent one.
 */
function dropWhenSilent(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  Object.assign(client, {
    query: (...args: unknown[]) => {
      const result = query(...args);
      if (result instanceof Promise) {
        result.catch((err: unknown) => {
          if ((err as Error)?.message === 'Query read timeout') void client.end().catch(() => {});
        });
      }
      return result;
    },
  });
}

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<DB>): Promise<MigrationResult[]> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
  });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) {
    const failed = results.find((r) => r.status === 'Error');
    throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed`, { cause: error });
  }
  return results;
}

/** True when `err` is a Postgres unique violation on the named constraint or index. */
export function isUniqueViolation(err: unknown, constraint: string): boolean {
  const e = err as { code?: string; constraint?: string; detail?: string; message?: string };
  if (e?.code !== '23505') return false;
  return e.constraint === constraint || (e.message ?? '').includes(`"${constraint}"`);
}
