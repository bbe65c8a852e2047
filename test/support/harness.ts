import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, type Config, type Env } from '../../src/config.ts';
import { createContext, type Context } from '../../src/app/context.ts';
import { buildApp } from '../../src/app/http-app.ts';
import type { App } from '../../src/http/types.ts';
import { createLogger } from '../../src/logger.ts';
import type { RunningRole } from '../../src/app/roles/api.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { amqpUrl, deleteAmqpTopology, redisUrl, testPrefix, testRedis } from './services.ts';
import { createTestDatabase } from './test-databases.ts';

// Cleanups run once, after every test of the importing file. Registered at import time because
// an `after` called inside a `before` hook runs as soon as that hook ends.
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  const failures: unknown[] = [];
  for (const cleanup of cleanups.reverse())
    await cleanup().catch((err: unknown) => failures.push(err));
  if (failures.length > 0) throw new AggregateError(failures, 'test cleanup failed');
});

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

/** Test configuration: fast hashing, quiet logs, generous rate limits unless a test lowers them. */
export function testConfig(env: Env = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    BCRYPT_COST: '4',
    LOG_LEVEL: 'silent',
    RATE_LIMIT_AUTH_PER_IP: '100000',
    RATE_LIMIT_LOGIN_PER_ACCOUNT: '100000',
    // A test machine is busy by design: shedding load would fail unrelated tests at random.
    SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
    DATA_DIR: '/nonexistent-kith-test-data',
    MAIL_DIR: join(tmpdir(), 'kith-test-mail'),
    ...env,
  });
}

export interface TestApp {
  app: App;
  ctx: Context;
  /** Log lines written while the app ran (JSON strings), when `captureLogs` was asked for. */
  logs: string[];
}

/**
 * An app on its own fresh database (PGlite clone, or a Postgres database when DATABASE_URL is
 * set). Closed automatically after the calling test file.
 */
export async function createTestApp(
  opts: { env?: Env; captureLogs?: boolean } = {},
): Promise<TestApp> {
  const database = await createTestDatabase();
  // Mail is written as .eml files here (unless the test sets SMTP_URL); removed with the app.
  const mailDir = mkdtempSync(join(tmpdir(), 'kith-test-mail-'));
  const config = testConfig({
    MAIL_DIR: mailDir,
    ...(database.databaseUrl ? { DATABASE_URL: database.databaseUrl } : { DATABASE_URL: '' }),
    ...(opts.captureLogs ? { LOG_LEVEL: 'info' } : {}),
    ...opts.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const ctx = await createContext(config, {
    ...(database.pglite ? { pglite: database.pglite } : {}),
    log: createLogger(config.logLevel, sink),
    migrate: false,
  });
  const app = await buildApp(ctx);
  cleanups.push(async () => {
    await app.close();
    await ctx.close();
    await database.drop();
    rmSync(mailDir, { recursive: true, force: true });
  });
  return { app, ctx, logs };
}

/**
 * An app with the worker role running in this process (consumers and relay), on this file's
 * own Redis key prefix and RabbitMQ names when those services are set; the RabbitMQ topology is
 * deleted after the file. The caller stops the worker when its tests need it stopped.
 */
export async function createTestAppWithWorker(
  name: string,
  opts: { env?: Env; captureLogs?: boolean } = {},
): Promise<TestApp & { worker: RunningRole }> {
  if (redisUrl()) await testRedis(); // removes this file's keys afterwards
  const testApp = await createTestApp({
    ...opts,
    env: {
      OUTBOX_POLL_MS: '10',
      ...(redisUrl() && { REDIS_URL: redisUrl()!, REDIS_PREFIX: `${testPrefix}:${name}:` }),
      ...(amqpUrl() && { AMQP_URL: amqpUrl()!, AMQP_PREFIX: `${testPrefix}.${name}` }),
      ...opts.env,
    },
  });
  const groups = testApp.ctx.consumers.map((c) => c.group);
  // Registered after the harness's own `after`, so it runs once the app is closed.
  after(async () => {
    if (amqpUrl()) await deleteAmqpTopology(amqpUrl()!, `${testPrefix}.${name}`, groups);
  });
  return { ...testApp, worker: await startWorker(testApp.ctx) };
}
