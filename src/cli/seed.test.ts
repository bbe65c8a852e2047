import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import type { App } from '../http/types.ts';
import type { DB } from '../infra/db/schema.ts';
import { FeedRepository } from '../modules/feed/feed.repository.ts';
import { createTestApp } from '../../test/support/harness.ts';
import { createTestDatabase } from '../../test/support/test-databases.ts';
import { SeedConflictError, seedDatabase, type SeedOptions } from './seed.ts';

let app: App;
let db: Kysely<DB>;
before(async () => {
  const t = await createTestApp();
  app = t.app;
  db = t.ctx.database.db;
});

const options = (over: Partial<SeedOptions> = {}): SeedOptions => ({
  users: 300,
  postsPerUser: 4,
  seed: 7,
  prefix: '',
  days: 28,
  password: 'seeded-password-1',
  bcryptCost: 4,
  fanoutMaxFollowers: 10_000,
  ...over,
});

/** Rows whose stored counter differs from a count of the rows it counts. */
async function wrongCounters(prefix: string) {
  const count = (table: string, column: string, key = 'u.id') =>
    sql.raw(`(select count(*) from ${table} x where x.${column} = ${key})`);
  const { rows: users } = await sql<{ username: string }>`
    select username from users u where username like ${`${prefix}%`} and (
      post_count <> ${count('posts', 'author_id')}
      or follower_count <> ${count('follows', 'followee_id')}
      or following_count <> ${count('follows', 'follower_id')}
      or friend_count <> ${count('friendships', 'user_id')})`.execute(db);
  const { rows: posts } = await sql<{ id: string }>`
    select p.id from posts p join users u on u.id = p.author_id
    where u.username like ${`${prefix}%`} and (
      like_count <> ${count('likes', 'post_id', 'p.id')}
      or comment_count <> ${count('comments', 'post_id', 'p.id')})`.execute(db);
  return { users: users.map((r) => r.username), posts: posts.map((r) => r.id) };
}

describe('seedDatabase', () => {
  const progress: [number, number, string][] = [];
  let summary: Awaited<ReturnType<typeof seedDatabase>>;
  before(async () => {
    summary = await seedDatabase(
      db,
      options({ prefix: 's_', onProgress: (d, t, table) => progress.push([d, t, table]) }),
    );
  });

  it('writes the generated rows and reports them, with progress up to the total', async () => {
    const rows = async (q: string) =>
      Number((await sql<{ n: number }>`${sql.raw(q)}`.execute(db)).rows[0]!.n);
    const mine = `(select id from users where username like 's\\_%')`;
    assert.deepEqual(
      {
        users: await rows(`select count(*) n from users where id in ${mine}`),
        follows: await rows(`select count(*) n from follows where follower_id in ${mine}`),
        friendships:
          (await rows(`select count(*) n from friendships where user_id in ${mine}`)) / 2,
        posts: await rows(`select count(*) n from posts where author_id in ${mine}`),
        likes: await rows(`select count(*) n from likes where user_id in ${mine}`),
        comments: await rows(`select count(*) n from comments where author_id in ${mine}`),
      },
      {
        users: 300,
        follows: summary.follows,
        friendships: summary.friendships,
        posts: summary.posts,
        likes: summary.likes,
        comments: summary.comments,
      },
    );
    assert.ok(summary.posts > 300 && summary.likes > 0 && summary.comments > 0, 'a lively graph');
    assert.deepEqual(
      [...new Set(progress.map(([, , table]) => table))],
      ['users', 'follows', 'friendships', 'posts', 'likes', 'comments'],
    );
    const total = progress[0]![1];
    assert.equal(progress.at(-1)![0], total);
    assert.equal(
      total,
      300 +
        summary.follows +
        2 * summary.friendships +
        summary.posts +
        summary.likes +
        summary.comments,
    );
    assert.deepEqual(
      summary.top.map((t) => t.followers),
      [...summary.top.map((t) => t.followers)].sort((a, b) => b - a),
    );
  });

  it('keeps every counter exact', async () => {
    assert.deepEqual(await wrongCounters('s\\_'), { users: [], posts: [] });
  });

  it('stores friendships both ways with follows both ways, and backdates ids with created_at', async () => {
    const { rows } = await sql<{ one_way: number; unfollowed: number; id_time: number }>`
      select
        (select count(*) from friendships f where not exists (
          select 1 from friendships g where g.user_id = f.friend_id and g.friend_id = f.user_id)) one_way,
        (select count(*) from friendships f where not exists (
          select 1 from follows x where x.follower_id = f.user_id and x.followee_id = f.friend_id)) unfollowed,
        (select count(*) from posts p where
          floor(extract(epoch from p.created_at) * 1000)
            <> ('x' || substr(replace(p.id::text, '-', ''), 1, 12))::bit(48)::bigint) id_time`.execute(
      db,
    );
    assert.deepEqual(rows[0], { one_way: 0, unfollowed: 0, id_time: 0 });
    const span = await sql<{ oldest: Date; newest: Date }>`
      select min(created_at) oldest, max(created_at) newest from posts`.execute(db);
    const { oldest, newest } = span.rows[0]!;
    assert.ok(Date.now() - oldest.getTime() > 20 * 86_400_000, 'spread over the past weeks');
    assert.ok(newest.getTime() <= Date.now());
  });

  it('lets seeded users log in with the password and read a feed built on first read', async () => {
    const top = summary.top[4]!.username; // followed by many, follows some
    const { rows } = await sql<{ id: string; username: string }>`
      select u.id, u.username from users u
      join follows f on f.follower_id = u.id
      where u.username like 's\\_%' group by u.id order by count(*) desc limit 1`.execute(db);
    const reader = rows[0]!;
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: reader.username, password: 'seeded-password-1' },
    });
    assert.equal(login.statusCode, 200, login.body);
    const auth = { authorization: `Bearer ${login.json<{ access_token: string }>().access_token}` };
    const feed = await app.inject({ url: '/api/v1/feed?limit=50', headers: auth });
    assert.equal(feed.statusCode, 200, feed.body);
    const ids = feed.json<{ items: { id: string }[] }>().items.map((p) => p.id);
    assert.ok(ids.length > 0);
    assert.deepEqual(ids, await new FeedRepository(db).feedIds(reader.id, undefined, 50));
    const profile = await app.inject({ url: `/api/v1/users/${top}`, headers: auth });
    assert.equal(
      profile.json<{ follower_count: number }>().follower_count,
      summary.top[4]!.followers,
    );
  });

  it('refuses to seed over existing usernames and writes nothing', async () => {
    const count = async () => (await sql`select count(*) n from users`.execute(db)).rows;
    const users = await count();
    await assert.rejects(seedDatabase(db, options({ prefix: 's_' })), SeedConflictError);
    assert.deepEqual(await count(), users);
  });

  it('marks the posts of accounts above FEED_FANOUT_MAX_FOLLOWERS as not fanned out', async () => {
    await seedDatabase(db, options({ prefix: 'f_', users: 200, fanoutMaxFollowers: 20 }));
    const { rows } = await sql<{ fan_out: boolean; big: boolean; n: number }>`
      select p.fan_out, u.follower_count > 20 big, count(*) n from posts p
      join users u on u.id = p.author_id where u.username like 'f\\_%'
      group by 1, 2 order by 1, 2`.execute(db);
    assert.deepEqual(
      rows.map((r) => [r.fan_out, r.big]),
      [
        [false, true],
        [true, false],
      ],
    );
  });

  it('reports how long 2,000 users take (measured, not asserted)', async (t) => {
    const started = performance.now();
    const s = await seedDatabase(db, options({ prefix: 't_', users: 2000, postsPerUser: 10 }));
    const ms = performance.now() - started;
    t.diagnostic(
      `seed timing: ${s.users} users, ${s.follows} follows, ${s.posts} posts, ${s.likes} likes, ` +
        `${s.comments} comments in ${(ms / 1000).toFixed(1)} s (write ${(s.ms.write / 1000).toFixed(1)} s)`,
    );
    assert.deepEqual(await wrongCounters('t\\_'), { users: [], posts: [] });
  });
});

/** Runs `kith seed …` as a process. */
function kithSeed(args: string[], env: Record<string, string>) {
  const main = new URL('../main.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [main, 'seed', ...args], {
    env: { PATH: process.env.PATH, BCRYPT_COST: '4', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, out, err })),
  );
}

describe('kith seed', { timeout: 120_000 }, () => {
  it('seeds, prints a summary and writes the generated password to DATA_DIR', async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'kith-seed-'));
    const database = process.env.DATABASE_URL ? await createTestDatabase() : undefined;
    t.after(() => database?.drop());
    const env = {
      DATA_DIR: dataDir,
      PORT: '1', // nothing answers there: no embedded server to worry about
      ...(database?.databaseUrl ? { DATABASE_URL: database.databaseUrl } : {}),
    };
    const { code, out, err } = await kithSeed(['--users', '50', '--seed', '3'], env);
    assert.equal(code, 0, err);
    assert.match(err, /^kith seed: 50 users, ~10 posts each, seed 3, into /);
    // Not a terminal: plain progress lines (no \r), then the rows written and the time taken.
    assert.match(err, /^\d+% {2}[\d,]+\/[\d,]+ rows {2}[\d,]+\/s {2}.+ left {2}\w+$/m);
    assert.match(err, /^[\d,]+ rows in [\d.]+ s \([\d,]+ rows\/s\)$/m);
    assert.ok(!err.includes('\r'));
    assert.match(
      out,
      /^Seeded .* in [\d.]+ s \(set-up [\d.]+ s, generate [\d.]+ s, write [\d.]+ s\):$/m,
    );
    const password = /Every seeded user's password: (seed-[\w-]{12})/.exec(out)?.[1];
    assert.ok(password, out);
    assert.match(out, /^ {2}users {15}50$/m);
    const file = join(dataDir, 'seed-credentials.txt');
    assert.match(
      readFileSync(file, 'utf8'),
      new RegExp(`50 users \\(\\w+_1 …, seed 3\\)  password: ${password}\\n$`),
    );
    assert.equal(statSync(file).mode & 0o777, 0o600);

    const again = await kithSeed(
      ['--users', '50', '--seed', '3', '--password', 'chosen-password'],
      env,
    );
    assert.equal(again.code, 1);
    assert.match(
      again.err,
      /kith seed: users already exist \(.*\): seed into a fresh database or pick another --prefix/,
    );
  });

  it('refuses bad options with exit code 2 and the usage', async () => {
    for (const args of [
      ['--users', '0'],
      ['--users', 'many'],
      ['--prefix', 'Bad-Prefix'],
      ['--password', 'short'],
      ['--nope'],
    ]) {
      const { code, err } = await kithSeed(args, { PORT: '1' });
      assert.equal(code, 2, args.join(' '));
      assert.match(err, /^kith seed: .*\n\nUsage: kith seed /s, args.join(' '));
    }
  });

  it('refuses to open the embedded database while a kith server on it answers', async (t) => {
    const server = createServer((_req, res) =>
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end('{"status":"ready","database":"pglite"}'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const dataDir = mkdtempSync(join(tmpdir(), 'kith-seed-'));
    const port = String((server.address() as AddressInfo).port);
    const { code, err } = await kithSeed(['--users', '5'], { DATA_DIR: dataDir, PORT: port });
    assert.equal(code, 1);
    assert.equal(
      err,
      `kith seed: a kith server on the embedded database answers on port ${port}; stop it first (PGlite serves one process at a time), then seed and start it again.\n`,
    );
  });
});
