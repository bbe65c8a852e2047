import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, it, type TestContext } from 'node:test';
import { RabbitMqBus } from '../../src/infra/bus/rabbitmq-bus.ts';
import { openDatabase } from '../../src/infra/db/database.ts';
import { newId } from '../../src/ids.ts';
import { createLogger } from '../../src/logger.ts';
import { recordEvent } from '../../src/events/outbox.ts';
import { OutboxRelay } from '../../src/events/relay.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { createTestApp, TEST_JWT_SECRET, type TestApp } from '../support/harness.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { createTestDatabase, postgresUrl } from '../support/test-databases.ts';
import { waitFor } from '../support/wait.ts';
import { callServer as call } from '../support/http-client.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const API = '/api/v1';
const [AMQP, REDIS] = [amqpUrl()!, redisUrl()!];
const REAL = Boolean(postgresUrl() && REDIS && AMQP);
const redis = REAL ? await testRedis() : undefined!; // keys under testPrefix go after the file

/** Sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
function sample(body: string, name: string, labels: Record<string, string> = {}) {
  let total: number | undefined;
  for (const [, metric, rawLabels = '', value] of body.matchAll(/^(\w+)(?:\{(.*)\})? (\S+)$/gm)) {
    const have = Object.fromEntries(
      [...rawLabels.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (metric === name && Object.entries(labels).every(([k, v]) => have[k] === v))
      total = (total ?? 0) + Number(value);
  }
  return total;
}

const running = new Set<ChildProcess>();
after(() => running.forEach((child) => child.exitCode === null && child.kill('SIGKILL')));

/** Spawns `kith <command>` with exactly `env` (plus PATH and a private DATA_DIR). */
function spawnKith(env: Record<string, string>, command = 'serve') {
  const dataDir = mkdtempSync(join(tmpdir(), 'kith-platform-'));
  const child = spawn(process.execPath, [MAIN, command], {
    env: { PATH: process.env.PATH, DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { child, lines, exited };
}
type Kith = ReturnType<typeof spawnKith> & { url: string };

/** Runs a one-shot `kith` command to its end; returns its exit code and output. */
function runKith(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    execFile(
      process.execPath,
      [MAIN, ...args],
      { env: { PATH: process.env.PATH, ...env } },
      (error, out, err) => resolve({ code: error ? (error.code as number) : 0, out, err }),
    );
  });
}

/** Starts a real `kith serve` and resolves once it logged `ready` (with its URL for the api). */
async function startKith(env: Record<string, string>, ready: string): Promise<Kith> {
  const quick = { OUTBOX_POLL_MS: '20', CONSUMER_RETRY_DELAYS_MS: '50', BCRYPT_COST: '4' };
  const base = { HOST: '127.0.0.1', PORT: '0', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'info' };
  const kith = spawnKith({ ...base, ...quick, ...env });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: kith.child.stdout }).on('line', (line) => {
      kith.lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === ready) resolve(entry.url ?? '');
    });
    void kith.exited.then((code) => reject(new Error(`exited ${code}: ${kith.lines.join('\n')}`)));
  });
  return { ...kith, url };
}

async function stopKith(kith: Kith): Promise<void> {
  kith.child.kill('SIGTERM');
  assert.equal(await kith.exited, 0, kith.lines.slice(-5).join('\n'));
  assert.ok(
    kith.lines.some((l) => l.includes('"msg":"stopped"')),
    'logged a clean stop',
  );
}

/** Registers and logs in a user through a real server. */
async function signUp(base: string) {
  const username = `p_${newId().slice(-12)}`;
  const password = 'correct-horse-1';
  const user = { username, password, email: `${username}@example.com`, dob: '1990-01-01' };
  const reg = await call(base, 'POST', `${API}/auth/register`, user);
  assert.equal(reg.status, 201, reg.text);
  const login = await call(base, 'POST', `${API}/auth/login`, { login: username, password });
  assert.equal(login.status, 200, login.text);
  return { id: reg.json().id!, username, token: login.json().access_token! };
}

const inject = (app: TestApp['app'], m: string, url: string, who?: Account, payload?: object) =>
  app.inject({ method: m as 'GET', url, headers: who?.auth ?? {}, ...(payload && { payload }) });

describe('split roles need shared services', { timeout: 60_000 }, () => {
  async function refuses(env: Record<string, string>, command: string, pattern: RegExp) {
    const { exited, lines } = spawnKith(env, command);
    assert.equal(await exited, 1, lines.join(''));
    assert.match(lines.join(''), pattern);
    return lines.join('');
  }
  for (const role of ['api', 'worker']) {
    it(`ROLES=${role} without DATABASE_URL, AMQP_URL and REDIS_URL exits 1 naming them`, async () => {
      const names = `configuration error: ROLES=${role} .*DATABASE_URL.*AMQP_URL.*REDIS_URL`;
      await refuses({ ROLES: role }, 'serve', new RegExp(names));
    });
  }
  it('names only what is missing, and `kith worker` checks the same', async () => {
    const env = { ROLES: 'api', DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' };
    const stderr = await refuses(env, 'serve', /ROLES=api .*AMQP_URL.*REDIS_URL/);
    assert.doesNotMatch(stderr, /DATABASE_URL/);
    await refuses({ REDIS_URL: 'redis://127.0.0.1:1' }, 'worker', /ROLES=worker .*DATABASE_URL/);
  });
});

describe('/metrics', { timeout: 60_000 }, () => {
  it('exposes request latency by route, the outbox backlog and consumer outcomes', async (t) => {
    const { app, ctx } = await createTestApp({ env: { OUTBOX_POLL_MS: '10' } });
    const worker = await startWorker(ctx);
    t.after(() => worker.stop());
    const author = await createAccount(app);
    assert.equal((await inject(app, 'GET', `${API}/users/${author.username}`)).statusCode, 200);
    assert.equal((await inject(app, 'GET', '/no-such-route')).statusCode, 404);
    const post = await inject(app, 'POST', `${API}/posts`, author, { text: 'm' });
    assert.equal(post.statusCode, 201, post.body);
    const handled = { group: 'feed', outcome: 'handled' };
    const body = await waitFor(async () => {
      const text = (await inject(app, 'GET', '/metrics')).body;
      const done = sample(text, 'kith_consumer_events_total', handled) === 1;
      return done && sample(text, 'kith_outbox_backlog') === 0 && text;
    }, 'the worker handled post.created and the relay caught up');
    const latency = (labels: Record<string, string>) =>
      sample(body, 'kith_http_request_duration_seconds_count', labels);
    assert.equal(latency({ method: 'POST', route: `${API}/posts`, status: '201' }), 1);
    assert.equal(latency({ method: 'GET', route: `${API}/users/:username`, status: '200' }), 1);
    assert.equal(latency({ route: 'unmatched', status: '404' }), 1, 'no raw URLs as labels');
    assert.ok(sample(body, 'kith_outbox_published_total')! >= 2, 'registered + post created');
    assert.equal(sample(body, 'kith_outbox_oldest_seconds'), 0);
  });
});

const realServices = {
  skip: !REAL && 'set DATABASE_URL, REDIS_URL and AMQP_URL',
  timeout: 120_000,
};
describe('on Postgres, Redis and RabbitMQ', realServices, () => {
  const prefixes = new Set<string>();
  after(async () => {
    for (const prefix of prefixes)
      await deleteAmqpTopology(AMQP, prefix, ['feed', 'mail', 'notifications', 'probe', 'poison']);
  });

  /** A fresh database (and a Kysely on it), and the env naming every service under new prefixes. */
  async function platform(t: TestContext, name: string, amqp = AMQP) {
    const database = await createTestDatabase();
    const url = database.databaseUrl!;
    const opened = await openDatabase({ databaseUrl: url, dataDir: '', poolSize: 2 });
    const db = opened.db;
    t.after(() => opened.close().then(() => database.drop()));
    const [amqpPrefix, redisPrefix] = [`${testPrefix}.${name}`, `${testPrefix}:${name}:`];
    prefixes.add(amqpPrefix);
    const services = { DATABASE_URL: url, REDIS_URL: REDIS, AMQP_URL: amqp };
    const env = { ...services, AMQP_PREFIX: amqpPrefix, REDIS_PREFIX: redisPrefix };
    const timeline = (userId: string) => `${redisPrefix}tl:home:${userId}`;
    const outbox = () => db.selectFrom('outbox').select(['id', 'type', 'data', 'published_at']);
    return { env, amqpPrefix, timeline, outbox };
  }
  /** B follows A, and B's home timeline exists (empty) in Redis. */
  async function followWithTimeline(url: string, timeline: (id: string) => string) {
    const [a, b] = [await signUp(url), await signUp(url)];
    const follow = await call(url, 'POST', `${API}/users/${a.username}/follow`, undefined, b.token);
    assert.equal(follow.status, 200, follow.text);
    await redis.zadd(timeline(b.id), -1, '\0'); // an empty timeline: just its floor marker
    const entries = async () => new Set(await redis.zrange(timeline(b.id), '0', '-1'));
    return { a, b, entries };
  }

  it('an api process and a worker process deliver a post into a follower timeline', async (t) => {
    const { env, timeline, outbox } = await platform(t, 'split');
    const [worker, api] = await Promise.all([
      startKith({ ...env, ROLES: 'worker', METRICS_PORT: '0' }, 'kith worker is running'),
      startKith({ ...env, ROLES: 'api' }, 'kith is serving'),
    ]);
    const started = worker.lines.find((l) => l.includes('"msg":"worker started"'));
    const info = JSON.parse(started ?? '{}') as { consumers?: string[]; metrics?: string };
    assert.deepEqual(info.consumers, [
      'feed',
      'notifications',
      'mail',
      'lifecycle',
      'moderation',
      'media',
      'followed-tags',
      'public-posts',
    ]); // the registry's order
    assert.match(info.metrics ?? '', /^http:\/\/.+:\d+\/metrics$/, 'the worker serves its metrics');
    const { a, entries } = await followWithTimeline(api.url, timeline);
    const post = await call(api.url, 'POST', `${API}/posts`, { text: 'split roles' }, a.token);
    assert.equal(post.status, 201, post.text);
    const postId = post.json().id!;

    await waitFor(async () => (await entries()).has(postId), 'post in the follower timeline');
    assert.equal(await redis.exists(timeline(a.id)), 0, "the author's absent timeline stays so");
    const published = () =>
      outbox().where('type', '=', 'post.created').where('published_at', 'is not', null);
    const row = await waitFor(() => published().executeTakeFirst(), 'outbox row marked published');
    assert.deepEqual(row.data, {
      post_id: postId,
      author_id: a.id,
      mentions: false,
      tags: false,
    });
    const metrics = await waitFor(async () => {
      const text = (await call(api.url, 'GET', '/metrics')).text;
      return sample(text, 'kith_outbox_backlog') === 0 && text;
    }, 'backlog 0 on the api');
    const labels = { method: 'POST', route: `${API}/posts`, status: '201' };
    assert.equal(sample(metrics, 'kith_http_request_duration_seconds_count', labels), 1);
    const workerMetrics = await (await fetch(info.metrics!)).text();
    assert.ok(
      (sample(workerMetrics, 'kith_consumer_events_total', { group: 'feed', outcome: 'handled' }) ??
        0) >= 1,
      'the worker counts what it handled',
    );
    await Promise.all([stopKith(api), stopKith(worker)]);
  });

  it('with the broker cut off, writes succeed and every event is published once after it returns', async (t) => {
    const proxy = new TcpProxy(AMQP);
    const proxied = await proxy.start(AMQP);
    t.after(() => proxy.close());
    const { env, amqpPrefix, timeline, outbox } = await platform(t, 'outage', proxied);
    // A test consumer group on the real broker (not through the proxy), subscribed before any write.
    const probeBus = new RabbitMqBus(AMQP, { prefix: amqpPrefix });
    t.after(() => probeBus.close());
    const seen: string[] = [];
    await probeBus.consume('probe', ['post.created'], async (event) => void seen.push(event.id));
    const kith = await startKith(env, 'kith is serving');
    const { a, entries } = await followWithTimeline(kith.url, timeline);

    proxy.cut();
    const posts = [];
    for (let i = 0; i < 20; i++)
      posts.push(await call(kith.url, 'POST', `${API}/posts`, { text: `outage ${i}` }, a.token));
    assert.deepEqual(
      posts.map((p) => p.status),
      Array(20).fill(201),
      'writes never wait',
    );
    const pending = await outbox()
      .where('type', '=', 'post.created')
      .where('published_at', 'is', null)
      .execute();
    assert.equal(pending.length, 20, 'nothing can be published while the broker is cut off');
    const cut = (await call(kith.url, 'GET', '/metrics')).text;
    assert.ok(sample(cut, 'kith_outbox_backlog')! >= 20, 'the backlog shows in /metrics');

    proxy.restore();
    const postIds = posts.map((p) => p.json().id!);
    const delivered = async () => {
      const have = await entries();
      return postIds.every((id) => have.has(id));
    };
    await waitFor(delivered, 'all 20 posts in the follower timeline', 60_000);
    const rows = await waitFor(async () => {
      const all = await outbox().execute();
      return all.every((r) => r.published_at) && all;
    }, 'every outbox row marked published');
    const eventIds = rows.filter((r) => r.type === 'post.created').map((r) => r.id);
    await waitFor(() => seen.length >= 20, 'the probe group got the events');
    assert.deepEqual([...seen].sort(), eventIds.sort(), 'each reached the probe group once');
    const metrics = (await call(kith.url, 'GET', '/metrics')).text;
    assert.equal(sample(metrics, 'kith_outbox_published_total'), rows.length, 'none sent twice');
    assert.equal(sample(metrics, 'kith_outbox_backlog'), 0);
    // The timeline can hold a post before its handler has finished (it also notifies streams).
    await waitFor(async () => {
      const text = (await call(kith.url, 'GET', '/metrics')).text;
      const handled = sample(text, 'kith_consumer_events_total', {
        group: 'feed',
        outcome: 'handled',
      });
      return (handled ?? 0) >= 20;
    }, 'the feed consumer counted every post');
    await stopKith(kith);
  });

  it('a poison event is dead-lettered after 3 attempts while the events behind it are handled', async (t) => {
    const db = (await createTestApp()).ctx.database.db;
    const prefix = `${testPrefix}.poison`;
    prefixes.add(prefix);
    const bus = new RabbitMqBus(AMQP, { prefix });
    t.after(() => bus.close());
    const [attempts, handled] = [[] as number[], [] as string[]];
    const handler = async (
      event: { id: string; data: Record<string, unknown> },
      attempt: number,
    ) => {
      if (!event.data.poison) return void handled.push(event.id);
      attempts.push(attempt);
      throw new Error('cannot handle this one');
    };
    const opts = { maxAttempts: 3, retryDelaysMs: [20], concurrency: 2 };
    await bus.consume('poison', ['post.liked'], handler, opts);
    const like = () => ({ post_id: newId(), author_id: newId(), user_id: newId() });
    const poisonId = await recordEvent(db, 'post.liked', { ...like(), poison: true } as never);
    const good: string[] = [];
    for (let i = 0; i < 5; i++) good.push(await recordEvent(db, 'post.liked', like()));
    const relayOpts = { pollMs: 20, batchSize: 100, leaseSeconds: 30, retentionHours: 24 };
    const relay = new OutboxRelay(db, bus, createLogger('silent'), relayOpts);
    assert.equal(await relay.tick(), 6);
    await relay.drain();
    assert.equal((await relay.backlog()).count, 0, 'the broker confirmed all six');

    await waitFor(() => handled.length >= 5, 'good events handled');
    const dead = await waitFor(async () => {
      const letters = await bus.deadLetters('poison');
      return letters.length > 0 && letters;
    }, 'poison event dead-lettered');
    assert.deepEqual(
      dead.map((e) => e.id),
      [poisonId],
    );
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual([...handled].sort(), good.sort(), 'each good event handled once');

    // Operators list it and replay it (`kith dead-letters`); still poisonous, it comes back.
    const cli = (...args: string[]) =>
      runKith(['dead-letters', ...args], {
        AMQP_URL: AMQP,
        AMQP_PREFIX: prefix,
        DATABASE_URL: postgresUrl()!,
        LOG_LEVEL: 'silent',
      });
    const listed = await cli('poison');
    assert.equal(listed.code, 0, listed.err);
    assert.match(listed.out, new RegExp(`post\\.liked\\s+${poisonId}`));
    assert.match(listed.out, /^1 dead-lettered event\(s\) in "poison"\.$/m);
    const replayed = await cli('poison', '--replay');
    assert.match(replayed.out, /^1 dead-lettered event\(s\) of "poison" sent back/m);
    await waitFor(() => attempts.length === 6, 'the replayed event tried again');
    assert.deepEqual(attempts, [1, 2, 3, 1, 2, 3], 'a replay is a fresh round of attempts');
    await waitFor(async () => (await bus.deadLetters('poison')).length === 1, 'dead again');
  });

  /** An app whose Redis connection runs through a proxy the test can cut. */
  async function behindProxy(t: TestContext) {
    const proxy = new TcpProxy(REDIS);
    const REDIS_URL = await proxy.start(REDIS);
    t.after(() => proxy.close());
    const { app, ctx } = await createTestApp({
      env: { REDIS_URL, REDIS_PREFIX: `${testPrefix}:cut:` },
    });
    const client = ctx.redis!;
    await waitFor(() => client.status === 'ready', 'redis connected through the proxy');
    await ctx.cache.set('probe', { ok: true }, 60);
    assert.deepEqual(await ctx.cache.get('probe'), { ok: true }, 'the cache works before the cut');
    const cacheRequests = async (result: string) =>
      sample((await inject(app, 'GET', '/metrics')).body, 'kith_cache_requests_total', {
        result,
      }) ?? 0;
    return { app, ctx, client, proxy, cacheRequests };
  }

  it('with Redis cut off, reads and writes keep answering from the database', async (t) => {
    const { app, ctx, client, proxy, cacheRequests } = await behindProxy(t);
    const [author, fan] = [await createAccount(app), await createAccount(app)];
    proxy.cut();
    await waitFor(() => client.status !== 'ready', 'the client noticed the cut');
    await assert.rejects(client.ping(), 'Redis is unreachable while cut');
    const errors = await cacheRequests('error');
    const profile = await inject(app, 'GET', `${API}/users/${author.username}`);
    assert.equal(profile.statusCode, 200, profile.body);
    const post = await inject(app, 'POST', `${API}/posts`, author, { text: 'no redis' });
    assert.equal(post.statusCode, 201, post.body);
    const read = await inject(app, 'GET', `${API}/posts/${post.json<{ id: string }>().id}`, fan);
    assert.equal(read.statusCode, 200, read.body);
    // The three routes above never read the cache; these resolve usernames through it.
    const feed = await inject(app, 'GET', `${API}/users/${author.username}/posts`, fan);
    assert.equal(feed.statusCode, 200, feed.body);
    assert.equal(feed.json<{ items: unknown[] }>().items.length, 1);
    const follow = await inject(app, 'POST', `${API}/users/${author.username}/follow`, fan);
    assert.equal(follow.statusCode, 200, follow.body);
    assert.ok((await cacheRequests('error')) >= errors + 2, 'cache errors counted, then served');

    proxy.restore();
    await waitFor(() => client.status === 'ready', 'redis reconnected after the cut');
    // The circuit breaker closes on its next successful probe (every 250 ms).
    await waitFor(() => ctx.redisBreaker?.up === true, 'the breaker closed again');
    const hits = await cacheRequests('hit');
    for (let i = 0; i < 2; i++) await inject(app, 'GET', `${API}/users/${author.username}/posts`);
    assert.ok((await cacheRequests('hit')) > hits, 'the cache serves again');
  });

  it('a cache lookup in flight when Redis drops settles as a miss', async (t) => {
    const { ctx, proxy } = await behindProxy(t);
    const lookup = ctx.cache.get('probe'); // written to the socket before the cut
    proxy.cut();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      lookup.then((value) => ({ settled: true, value })),
      new Promise((resolve) => (timer = setTimeout(resolve, 3_000, { settled: false }))),
    ]);
    clearTimeout(timer);
    proxy.restore(); // lets a hung lookup finish, so nothing outlives the test
    await lookup;
    assert.deepEqual(outcome, { settled: true, value: undefined }, 'settled within 3 s');
  });
});
