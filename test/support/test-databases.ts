/**
 * Test databases. Each test run migrates one template (a PGlite dump, or a Postgres database
 * when DATABASE_URL is set); each test file gets its own copy, so files never see each other's
 * data and repeated or parallel runs never collide on the shared Postgres.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { createPGlite, migrateToLatest, openDatabase } from '../../src/infra/db/database.ts';
import type { DB } from '../../src/infra/db/schema.ts';

const RUN_ENV = 'KITH_TEST_RUN';
const DUMP_ENV = 'KITH_TEST_PGLITE_DUMP';

/** Postgres URL of the real server under test, when the run targets one. */
export const postgresUrl = (): string | undefined => process.env.DATABASE_URL || undefined;

const runId = () => (process.env[RUN_ENV] ??= randomBytes(4).toString('hex'));
const templateName = () => `kith_test_${runId()}_tpl`;

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: postgresUrl(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`Postgres at DATABASE_URL is unreachable; start it or unset DATABASE_URL`, {
      cause: err,
    });
  }
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Builds the migrated template for this run. Called once per run by the global setup. */
export async function prepareTemplate(): Promise<void> {
  const url = postgresUrl();
  if (url) {
    await adminQuery(`create database ${templateName()}`);
    const db = new Kysely<DB>({
      dialect: new PostgresDialect({
        pool: new pg.Pool({ connectionString: withDatabase(url, templateName()), max: 1 }),
      }),
    });
    try {
      await migrateToLatest(db);
    } finally {
      await db.destroy();
    }
    return;
  }
  const pglite = await createPGlite();
  const database = await openDatabase({ dataDir: '', poolSize: 1 }, pglite);
  await migrateToLatest(database.db);
  const dump = await pglite.dumpDataDir('none');
  const file = join(tmpdir(), `kith-test-${runId()}.tar`);
  await writeFile(file, Buffer.from(await dump.arrayBuffer()));
  process.env[DUMP_ENV] = file;
  await database.close();
}

/** Drops everything this run created. */
export async function removeTemplates(): Promise<void> {
  if (postgresUrl()) {
    const client = new pg.Client({ connectionString: postgresUrl() });
    await client.connect();
    try {
      const { rows } = await client.query<{ datname: string }>(
        `select datname from pg_database where datname like $1`,
        [`kith_test_${runId()}_%`],
      );
      for (const { datname } of rows)
        await client.query(`drop database if exists ${datname} with (force)`);
    } finally {
      await client.end();
    }
  }
  const dump = process.env[DUMP_ENV];
  if (dump) await rm(dump, { force: true });
}

export interface TestDatabase {
  /** Set on Postgres runs: the URL of this file's own database. */
  databaseUrl?: string;
  /** Set on embedded runs: this file's own PGlite, cloned from the template. */
  pglite?: PGlite;
  drop(): Promise<void>;
}

let templateReady: Promise<void> | undefined;

/** A fresh, migrated database for one test file (or one test that wants isolation). */
export async function createTestDatabase(): Promise<TestDatabase> {
  // A test file run on its own (without the global setup) builds the template itself.
  if (!process.env[DUMP_ENV] && !(postgresUrl() && process.env[RUN_ENV])) {
    templateReady ??= prepareTemplate();
  }
  await templateReady;
  const url = postgresUrl();
  if (url) {
    const name = `kith_test_${runId()}_${randomBytes(4).toString('hex')}`;
    await adminQuery(`create database ${name} template ${templateName()}`);
    return {
      databaseUrl: withDatabase(url, name),
      drop: () => adminQuery(`drop database if exists ${name} with (force)`),
    };
  }
  const dump = await readFile(process.env[DUMP_ENV]!);
  const pglite = await createPGlite(undefined, new Blob([dump]));
  return { pglite, drop: async () => void (pglite.closed || (await pglite.close())) };
}
