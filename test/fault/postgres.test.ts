/**
 * Postgres faults (issue 11): kith between a proxy and the real Postgres. Cut off, the database
 * makes every request that needs it answer 503 problem+json with Retry-After, quickly, and
 * `/readyz` fail; once it is back, the same process serves again (no restart). A database that
 * accepts connections but never answers, a statement stuck behind a lock and a connection that
 * goes silent mid-query are each bounded by the DATABASE_*_TIMEOUT_MS settings.
 * Needs a real Postgres to cut: the embedded run (PGlite, in process) skips this file.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, describe, it, type TestContext } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import type { Env } from '../../src/config.ts';
import { createContext } from '../../src/app/context.ts';
import { buildApp } from '../../src/app/http-app.ts';
import type { App } from '../../src/http/types.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { drain } from '../support/drain.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { testConfig } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { createTestDatabase, postgresUrl } from '../support/test-databases.ts';
import { waitFor } from '../support/wait.ts';

const API = '/api/v1';
/** The promise: with the default settings, a request that needs an unreachable database answers within this. */
const BOUND_MS = 3_000;

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/**
 * An app on the database at `url` (a proxy), with its worker unless told otherwise. Closed after
 * the file, before the proxies (registered earlier) go: a worker stopping on an unreachable
 * database would wait out its consumers' retries.
 */
async function appOn(url: string, env: Env = {}, { worker = true } = {}) {
  const config = testConfig({ DATABASE_URL: url, OUTBOX_POLL_MS: '10', ...env });
  const ctx = await createContext(config, { migrate: false });
  const app = await buildApp(ctx);
  const running = worker ? await startWorker(ctx) : undefined;
  cleanups.push(async () => {
    await app.close();
    await running?.stop();
    await ctx.close();
  });
  return { app, ctx };
}

/** A fresh database (dropped after the file) behind a TcpProxy the test cuts. */
async function proxiedDatabase() {
  const database = await createTestDatabase();
  const proxy = new TcpProxy(database.databaseUrl!);
  const url = await proxy.start(database.databaseUrl!);
  cleanups.push(
    () => database.drop(),
    () => proxy.close(),
  );
  return { proxy, url, direct: database.databaseUrl! };
}

/** Sends a request and measures how long it took. */
async function timed(app: App, method: string, url: string, who?: Account, payload?: object) {
  const started = performance.now();
  const res = await app.inject({
    method: method as 'GET',
    url,
    headers: who?.auth ?? {},
    ...(payload && { payload }),
  });
  return { res, ms: performance.now() - started };
}

/** A 503 problem with Retry-After, answered within `bound` ms. */
function assertUnavailable(
  { res, ms }: { res: LightMyRequestResponse; ms: number },
  what: string,
  code = 'service_unavailable',
  bound = BOUND_MS,
) {
  assertProblem(res, 503, code);
  assert.ok(Number(res.headers['retry-after']) > 0, `${what}: Retry-After`);
  assert.ok(ms < bound, `${what} answered in ${Math.round(ms)} ms (bound ${bound} ms)`);
}

const needsPostgres = {
  skip: !postgresUrl() && 'needs DATABASE_URL (a real Postgres to cut)',
  timeout: 90_000,
};

describe('Postgres unreachable', needsPostgres, () => {
  it('answers 503 problem+json within 3 s on every kind of route, fails /readyz, and recovers without a restart', async (t) => {
    const { proxy, url, direct } = await proxiedDatabase();
    const { app, ctx } = await appOn(url);
    const [author, reader] = [await createAccount(app), await createAccount(app)];
    const follow = await timed(app, 'POST', `${API}/users/${author.username}/follow`, reader);
    assert.equal(follow.res.statusCode, 200, follow.res.body);
    const before = await timed(app, 'POST', `${API}/posts`, author, { text: 'before the cut' });
    assert.equal(before.res.statusCode, 201, before.res.body);
    const postId = before.res.json<{ id: string }>().id;
    await drain(ctx);

    // A read in flight when the connection drops: held behind a lock until the cut.
    const locker = await lockTables(t, direct, ['users', 'posts']);
    const inFlight = timed(app, 'GET', `${API}/users/${author.username}`);
    await waitFor(() => locker.waiting(), 'the profile read waits on the lock');
    proxy.cut();
    assertUnavailable(await inFlight, 'the read in flight at the cut');
    await locker.release();

    const requests: [string, string, Account | undefined, object?][] = [
      ['GET', `${API}/users/${author.username}`, undefined],
      ['GET', `${API}/posts/${postId}`, reader],
      ['GET', `${API}/feed`, reader],
      ['GET', `${API}/notifications`, author],
      ['POST', `${API}/posts`, author, { text: 'during the cut' }],
      ['POST', `${API}/posts/${postId}/like`, reader],
      ['POST', `${API}/auth/login`, undefined, { login: author.username, password: 'x-wrong-1' }],
    ];
    for (const [method, path, who, body] of requests)
      assertUnavailable(await timed(app, method, path, who, body), `${method} ${path}`);
    assertUnavailable(await timed(app, 'GET', '/readyz'), '/readyz', 'not_ready');
    assert.equal((await app.inject('/healthz')).statusCode, 200, 'alive: no restart wanted');

    proxy.restore();
    await waitFor(
      async () => (await app.inject('/readyz')).statusCode === 200,
      'ready again once Postgres is back',
    );
    const profile = await timed(app, 'GET', `${API}/users/${author.username}`);
    assert.equal(profile.res.statusCode, 200, profile.res.body);
    assert.equal(profile.res.json<{ post_count: number }>().post_count, 1, 'the cut wrote nothing');
    const after = await timed(app, 'POST', `${API}/posts`, author, { text: 'after the cut' });
    assert.equal(after.res.statusCode, 201, after.res.body);
    // The worker in the same process recovered too: the new post's event is handled.
    await drain(ctx);
    const feed = await timed(app, 'GET', `${API}/feed`, reader);
    assert.deepEqual(
      feed.res.json<{ items: { text: string }[] }>().items.map((p) => p.text),
      ['after the cut', 'before the cut'],
    );
  });

  it('a server that accepts connections but never answers: 503 within the connect timeout (2 s)', async () => {
    // A black hole: the TCP handshake succeeds, no byte ever comes back.
    const held = new Set<net.Socket>();
    const hole = net.createServer((socket) => held.add(socket.on('error', () => {})));
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      for (const socket of held) socket.destroy();
      hole.close();
    });
    const { port } = hole.address() as net.AddressInfo;
    const url = `postgres://kith@127.0.0.1:${port}/kith`;
    const { app } = await appOn(url, {}, { worker: false });
    assertUnavailable(await timed(app, 'GET', `${API}/users/anyone`), 'a profile');
    assertUnavailable(await timed(app, 'GET', '/readyz'), '/readyz', 'not_ready');
  });

  it('a statement stuck behind a lock is cancelled after DATABASE_STATEMENT_TIMEOUT_MS: 503, then served', async (t) => {
    const { url, direct } = await proxiedDatabase();
    const { app } = await appOn(url, { DATABASE_STATEMENT_TIMEOUT_MS: '500' });
    const author = await createAccount(app);
    const locker = await lockTables(t, direct, ['users']);
    const stuck = await timed(app, 'GET', `${API}/users/${author.username}`);
    assertUnavailable(stuck, 'a profile read behind the lock', 'service_unavailable', 1_500);
    assert.ok(stuck.ms >= 500, `waited for the statement timeout (${Math.round(stuck.ms)} ms)`);
    await locker.release();
    const served = await timed(app, 'GET', `${API}/users/${author.username}`);
    assert.equal(served.res.statusCode, 200, served.res.body);
  });

  it('a connection that goes silent mid-query is dropped 2 s after the statement timeout; the next request gets a fresh one', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const proxy = await freezingProxy(database.databaseUrl!);
    // One pooled connection and no worker: the read gets the connection that goes silent, and
    // the request after it would queue behind it if it were kept.
    const env = { DATABASE_STATEMENT_TIMEOUT_MS: '300', DATABASE_POOL_SIZE: '1' };
    const { app } = await appOn(proxy.url, env, { worker: false });
    const author = await createAccount(app);
    const path = `${API}/users/${author.username}`;
    assert.equal((await app.inject(path)).statusCode, 200);

    proxy.freeze(); // the open connection: no byte passes either way, nothing is closed
    const silent = await timed(app, 'GET', path);
    assertUnavailable(silent, 'a read on the silent connection', 'service_unavailable', 3_500);
    assert.ok(silent.ms >= 2_250, `gave the server 300 + 2000 ms (${Math.round(silent.ms)} ms)`);
    const next = await timed(app, 'GET', path);
    assert.equal(next.res.statusCode, 200, next.res.body);
    assert.ok(next.ms < 1_000, `a fresh connection, not a queue (${Math.round(next.ms)} ms)`);
  });
});

/** Sessions of this database waiting for a lock (another database's tests may wait too). */
const WAITING_FOR_A_LOCK = `select 1 from pg_stat_activity
  where datname = current_database() and wait_event_type = 'Lock'`;

/** Another session holding `tables` locked (access exclusive) until `release`. */
async function lockTables(t: TestContext, url: string, tables: string[]) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.after(() => client.end());
  await client.query('begin');
  await client.query(`lock table ${tables.join(', ')} in access exclusive mode`);
  return {
    /** Whether some other session waits for one of the locks. */
    waiting: async () => ((await client.query(WAITING_FOR_A_LOCK)).rowCount ?? 0) > 0,
    release: () => client.query('rollback'),
  };
}

/**
 * A proxy whose open connections can be frozen (bytes stop both ways, nothing closes: a network
 * that silently drops packets); connections opened later pass normally.
 */
async function freezingProxy(target: string) {
  const to = new URL(target);
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(to.port || 5432), to.hostname);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s)).on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const s of open) s.destroy();
    server.close();
  });
  const url = new URL(target);
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url: url.toString(),
    freeze() {
      for (const s of open) {
        s.unpipe();
        s.pause();
      }
    },
  };
}
