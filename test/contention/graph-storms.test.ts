/**
 * Storms of concurrent writes aimed at one account (issue 17): follows and unfollows, comments,
 * crossing friend requests and their answers, likes, comment deletions, all at once, while the
 * worker's consumers (notifications, feed) handle the events of the previous burst. Every
 * request must be answered 2xx/4xx quickly, nothing may deadlock, and afterwards every counter
 * must equal the rows it counts. Runs on both stacks; the pool keeps its default size.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { sql } from 'kysely';
import { API_PREFIX as API } from '../../src/http/types.ts';
import { drain } from '../support/drain.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';
import { createTestAppWithWorker } from '../support/harness.ts';

const embedded = !process.env.DATABASE_URL;
const { app, ctx, logs, worker } = await createTestAppWithWorker('storms', { captureLogs: true });
after(() => worker.stop());
const { db } = ctx.database;

/**
 * How long one answer may take on Postgres: 2 s, as the issue asks, unless this machine is so
 * busy that a burst of as many requests that share no row (comments on as many posts, see
 * `before`) already takes more than a third of that; then three times what that took (the storms
 * share the CPU and the pool with the consumers, drained before the calibration). The bound is
 * about waiting on locks, not about the machine's speed. PGlite has no locks (one transaction at
 * a time, on this very thread, shared with the consumers' backlog): there the answers' statuses,
 * the counters and the absence of dead letters are checked, and the times only reported. The
 * lock chain itself is checked step by step below.
 */
let answerMs = 2_000;

interface Call {
  who: Account;
  method: 'POST' | 'DELETE';
  url: string;
  payload?: Record<string, unknown>;
}
interface Answer {
  call: Call;
  status: number;
  ms: number;
  body: string;
}

/** Sends every call at once; checks each was answered 2xx/4xx within `answerMs`. */
async function storm(name: string, calls: Call[], limitMs = answerMs): Promise<Answer[]> {
  const started = Date.now();
  const answers = await Promise.all(
    calls.map(async (call) => {
      const t0 = Date.now();
      const res = await app.inject({
        method: call.method,
        url: `${API}${call.url}`,
        headers: call.who.auth,
        ...(call.payload ? { payload: call.payload } : {}),
      });
      return { call, status: res.statusCode, ms: Date.now() - t0, body: res.body };
    }),
  );
  const slowest = Math.max(...answers.map((a) => a.ms));
  const failed = answers.filter((a) => a.status >= 500);
  const tally = answers.reduce<Record<number, number>>(
    (acc, a) => ({ ...acc, [a.status]: (acc[a.status] ?? 0) + 1 }),
    {},
  );
  console.log(
    `# ${name}: ${calls.length} requests in ${Date.now() - started} ms, slowest ${slowest} ms, statuses ${JSON.stringify(tally)}`,
  );
  assert.deepEqual(
    failed.map((a) => `${a.call.method} ${a.call.url}: ${a.status} ${a.body}`),
    [],
    `${name}: server errors`,
  );
  // PGlite has no lock to wait for: there a slow answer is the machine's (its one connection
  // also serves the consumers' backlog of the storm before), so only Postgres is held to it.
  if (!embedded) assert.ok(slowest <= limitMs, `${name}: slowest answer took ${slowest} ms`);
  return answers;
}

/** Every user's and post's counters equal the rows they count. */
async function assertCountersExact(): Promise<void> {
  const { rows: users } = await sql<{
    username: string;
    follower_count: number;
    followers: number;
    following_count: number;
    following: number;
    friend_count: number;
    friends: number;
    post_count: number;
    posts: number;
  }>`
    select u.username,
      u.follower_count, (select count(*)::int from follows where followee_id = u.id) as followers,
      u.following_count, (select count(*)::int from follows where follower_id = u.id) as following,
      u.friend_count, (select count(*)::int from friendships where user_id = u.id) as friends,
      u.post_count, (select count(*)::int from posts where author_id = u.id) as posts
    from users u order by u.username`.execute(db);
  for (const u of users) {
    assert.deepEqual(
      [u.follower_count, u.following_count, u.friend_count, u.post_count],
      [u.followers, u.following, u.friends, u.posts],
      `counters of ${u.username}`,
    );
  }
  const { rows: posts } = await sql<{
    id: string;
    like_count: number;
    likes: number;
    comment_count: number;
    comments: number;
  }>`
    select p.id,
      p.like_count, (select count(*)::int from likes where post_id = p.id) as likes,
      p.comment_count, (select count(*)::int from comments where post_id = p.id) as comments
    from posts p`.execute(db);
  for (const p of posts) {
    assert.deepEqual(
      [p.like_count, p.comment_count],
      [p.likes, p.comments],
      `counters of post ${p.id}`,
    );
  }
  // Friendships are symmetric and friends follow each other.
  const { rows: broken } = await sql<{ user_id: string }>`
    select f.user_id from friendships f
    where not exists (select 1 from friendships g where g.user_id = f.friend_id and g.friend_id = f.user_id)
       or not exists (select 1 from follows w where w.follower_id = f.user_id and w.followee_id = f.friend_id)`.execute(
    db,
  );
  assert.deepEqual(broken, [], 'friendships symmetric, friends following each other');
}

function assertNoLockTrouble(): void {
  const trouble = logs.filter((line) =>
    /deadlock detected|40P01|statement timeout|canceling statement|service_unavailable|internal_error/i.test(
      line,
    ),
  );
  assert.deepEqual(trouble, [], 'lock trouble in the logs');
}

async function deadlocksSoFar(): Promise<number> {
  if (embedded) return 0;
  const { rows } = await sql<{ deadlocks: string }>`
    select deadlocks from pg_stat_database where datname = current_database()`.execute(db);
  return Number(rows[0]?.deadlocks ?? 0);
}

const USERS = 7;
let target: Account;
let users: Account[];
let post: string;
let deadlocksBefore = 0;

before(async () => {
  target = await createAccount(app, { username: uniqueUsername('target') });
  users = [];
  for (let i = 0; i < USERS; i++)
    users.push(await createAccount(app, { username: uniqueUsername(`fan${i}`) }));
  const res = await app.inject({
    method: 'POST',
    url: `${API}/posts`,
    headers: target.auth,
    payload: { text: 'storm magnet', visibility: 'public' },
  });
  assert.equal(res.statusCode, 201, res.body);
  post = res.json<{ id: string }>().id;
  // A running server has its pool open and its code warm: do once, out of the storms, what they
  // do, so the first storm does not also pay for opening connections.
  await Promise.all(Array.from({ length: 10 }, () => sql`select pg_sleep(0.05)`.execute(db)));
  const other = await createAccount(app, { username: uniqueUsername('warm') });
  const posts: string[] = [];
  for (let i = 0; i < 62; i++) {
    const created = await app.inject({
      method: 'POST',
      url: `${API}/posts`,
      headers: other.auth,
      payload: { text: `calibration ${i}`, visibility: 'public' },
    });
    assert.equal(created.statusCode, 201, created.body);
    posts.push(created.json<{ id: string }>().id);
  }
  for (const u of users) {
    for (const [method, url] of [
      ['POST', `/users/${other.username}/follow`],
      ['DELETE', `/users/${other.username}/follow`],
      ['POST', `/posts/${post}/like`],
      ['DELETE', `/posts/${post}/like`],
    ] as const) {
      const warm = await app.inject({ method, url: `${API}${url}`, headers: u.auth });
      assert.equal(warm.statusCode, 200, warm.body);
    }
  }
  // Calibration: a burst like the storms' that shares no row.
  const calibration = await storm(
    'calibration: 62 comments on 62 posts',
    posts.map((id, i) => ({
      who: users[i % USERS]!,
      method: 'POST',
      url: `/posts/${id}/comments`,
      payload: { text: `calibration ${i}` },
    })),
    60_000,
  );
  const factor = 3;
  answerMs = Math.max(2_000, factor * Math.max(...calibration.map((a) => a.ms)));
  console.log(`# answers must come within ${answerMs} ms`);
  await drain(ctx, 60_000);
  deadlocksBefore = await deadlocksSoFar();
});

describe('storms against one account', () => {
  it('7 users × 62 alternating follow/unfollow on one target, 3 rounds', async () => {
    for (let round = 1; round <= 3; round++) {
      const calls = Array.from({ length: 62 }, (_, i): Call => ({
        who: users[i % USERS]!,
        method: (i + round) % 2 === 0 ? 'POST' : 'DELETE',
        url: `/users/${target.username}/follow`,
      }));
      await storm(`follow storm, round ${round}`, calls);
      await assertCountersExact();
    }
  });

  it('62 comments on one post, then 28 crossing friend requests while consumers run', async () => {
    const comments = await storm(
      'comment storm',
      Array.from({ length: 62 }, (_, i): Call => ({
        who: users[i % USERS]!,
        method: 'POST',
        url: `/posts/${post}/comments`,
        payload: { text: `comment ${i} for @${target.username}` },
      })),
    );
    assert.ok(comments.every((a) => a.status === 201));
    // No drain: the notifications of the comments are being written while the requests land.
    // Each user asks three times, and the target asks each user once: crossing requests.
    const calls: Call[] = [];
    for (let i = 0; i < 21; i++)
      calls.push({
        who: users[i % USERS]!,
        method: 'POST',
        url: `/users/${target.username}/friend-request`,
      });
    for (const u of users)
      calls.push({ who: target, method: 'POST', url: `/users/${u.username}/friend-request` });
    const answers = await storm('friend request storm', calls);
    assert.ok(answers.every((a) => [200, 201, 409].includes(a.status)));
    await assertCountersExact();
    // Each pair ended up friends, through one request accepted by the crossing one.
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from friendships where user_id = ${target.id}`.execute(db);
    assert.equal(rows[0]!.n, USERS);
  });

  it('accept, decline and cancel racing on the same requests; unfriend storm', async () => {
    // Unfriend everyone at once (each user twice, and the target once each: 404 for the losers).
    const unfriend: Call[] = [];
    for (let i = 0; i < 14; i++)
      unfriend.push({
        who: users[i % USERS]!,
        method: 'DELETE',
        url: `/friends/${target.username}`,
      });
    for (const u of users)
      unfriend.push({ who: target, method: 'DELETE', url: `/friends/${u.username}` });
    await storm('unfriend storm', unfriend);
    await assertCountersExact();

    // Fresh requests to the target, then accept, decline and cancel all at once on each.
    const sent = await storm(
      'friend requests',
      users.map((u) => ({
        who: u,
        method: 'POST',
        url: `/users/${target.username}/friend-request`,
      })),
    );
    const ids = sent.map((a) => {
      assert.equal(a.status, 201, a.body);
      return { from: a.call.who, id: a.body && JSON.parse(a.body).id };
    });
    const race: Call[] = [];
    for (const { from, id } of ids) {
      race.push({ who: target, method: 'POST', url: `/friend-requests/${id}/accept` });
      race.push({ who: target, method: 'POST', url: `/friend-requests/${id}/decline` });
      race.push({ who: target, method: 'POST', url: `/friend-requests/${id}/accept` });
      race.push({ who: from, method: 'DELETE', url: `/friend-requests/${id}` });
      // The sender also follows and unfollows the target meanwhile.
      race.push({ who: from, method: 'POST', url: `/users/${target.username}/follow` });
      race.push({ who: from, method: 'DELETE', url: `/users/${target.username}/follow` });
    }
    const answers = await storm('accept/decline/cancel race', race);
    // Exactly one answer won per request.
    for (const { id } of ids) {
      const won = answers.filter(
        (a) => a.call.url.startsWith(`/friend-requests/${id}`) && a.status < 300,
      );
      assert.equal(won.length, 1, `one winner for ${id}: ${won.map((a) => a.call.url).join(', ')}`);
    }
    await assertCountersExact();
  });

  it('likes and unlikes on one post', async () => {
    for (let round = 1; round <= 2; round++) {
      await storm(
        `like storm, round ${round}`,
        Array.from({ length: 62 }, (_, i): Call => ({
          who: users[i % USERS]!,
          method: (i + round) % 2 === 0 ? 'POST' : 'DELETE',
          url: `/posts/${post}/like`,
        })),
      );
      await assertCountersExact();
    }
  });

  it('comments created and deleted on one post at once, with likes and follows', async () => {
    const { rows: existing } = await sql<{ id: string; author_id: string }>`
      select id, author_id from comments where post_id = ${post} order by id limit 24`.execute(db);
    const byId = new Map([target, ...users].map((u) => [u.id, u]));
    const calls: Call[] = [];
    existing.forEach((c, i) => {
      // Half deleted by their author, half by the post's author; some by both at once.
      const who = i % 2 === 0 ? byId.get(c.author_id)! : target;
      calls.push({ who, method: 'DELETE', url: `/comments/${c.id}` });
      if (i % 6 === 0) calls.push({ who: target, method: 'DELETE', url: `/comments/${c.id}` });
    });
    for (let i = 0; i < 24; i++) {
      calls.push({
        who: users[i % USERS]!,
        method: 'POST',
        url: `/posts/${post}/comments`,
        payload: { text: `again ${i}, @${target.username}` },
      });
      if (i % 5 === 0)
        calls.push({ who: users[i % USERS]!, method: 'POST', url: `/posts/${post}/like` });
      if (i % 5 === 2)
        calls.push({
          who: users[i % USERS]!,
          method: i % 10 === 2 ? 'POST' : 'DELETE',
          url: `/users/${target.username}/follow`,
        });
    }
    assert.equal(calls.length, 62);
    const { rows: before } = await sql<{ n: number }>`
      select count(*)::int as n from comments where post_id = ${post}`.execute(db);
    await storm('comment create/delete storm', calls);
    await assertCountersExact();
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from comments where post_id = ${post}`.execute(db);
    assert.equal(rows[0]!.n, before[0]!.n - existing.length + 24);
  });

  // The lock chain of the issue, step by step: the notifications consumer's transaction holds
  // FOR KEY SHARE on the users rows its inserts reference (the foreign-key checks), while a
  // graph write between two users locks the pair. Postgres only: PGlite's one connection cannot
  // hold a transaction open while another runs.
  for (const route of ['follow', 'friend-request'] as const) {
    it(
      `a ${route} does not wait for, nor deadlock with, a consumer transaction on the same users`,
      { skip: embedded && 'PGlite runs one transaction at a time' },
      async () => {
        const [a, b] = [
          await createAccount(app, { username: uniqueUsername('pair') }),
          await createAccount(app, { username: uniqueUsername('pair') }),
        ];
        // The writer locks its pair in id order: it gets its own row, then waits for the other.
        const [writer, other] = a.id < b.id ? [a, b] : [b, a];
        const actor = users[0]!;
        await db.connection().execute(async (conn) => {
          await sql`begin`.execute(conn);
          try {
            // As the consumer does for a notification to `other` (FK checks: KEY SHARE).
            const id = randomUUID();
            await sql`insert into notifications (id, user_id, type, actor_id)
              values (${id}, ${other.id}, 'follow', ${actor.id})`.execute(conn);
            const t0 = Date.now();
            const write = app
              .inject({
                method: 'POST',
                url: `${API}/users/${other.username}/${route}`,
                headers: writer.auth,
              })
              .then((res) => ({ res, ms: Date.now() - t0 }));
            await delay(200);
            // ...then with the writer as an actor: FOR UPDATE on the writer's row would block
            // this, while the writer waits for this transaction: a deadlock.
            await sql`insert into notification_actors (notification_id, actor_id)
              values (${id}, ${writer.id})`.execute(conn);
            const answered = await Promise.race([write, delay(answerMs).then(() => undefined)]);
            assert.ok(answered, `the ${route} still waits after ${answerMs} ms`);
            assert.ok(answered.res.statusCode < 300, answered.res.body);
            await sql`update users set stream_seq = stream_seq + 1 where id = ${other.id}`.execute(
              conn,
            );
            await sql`commit`.execute(conn);
          } catch (err) {
            await sql`rollback`.execute(conn);
            throw err;
          }
        });
        await assertCountersExact();
      },
    );
  }

  it('the consumers drain without dead letters, and nothing deadlocked', async () => {
    await drain(ctx, 60_000);
    await assertCountersExact();
    const values = (await ctx.metrics.consumerEvents.get()).values;
    const dead = values.filter((v) => v.labels.outcome === 'dead_lettered' && v.value > 0);
    const retried = values.filter((v) => v.labels.outcome === 'retried' && v.value > 0);
    assert.deepEqual(dead, [], 'dead-lettered events');
    assert.deepEqual(retried, [], 'retried events');
    assertNoLockTrouble();
    // Postgres counts deadlocks per database, each backend reporting its own once idle for
    // 10 s at most (a deadlock retried by `transaction` leaves no other trace).
    if (!embedded) await delay(11_000);
    const deadlocks = (await deadlocksSoFar()) - deadlocksBefore;
    console.log(`# deadlocks reported by Postgres so far: ${deadlocks}`);
    assert.equal(deadlocks, 0, 'deadlocks detected by Postgres');
  });
});
