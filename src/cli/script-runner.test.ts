import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import type { App } from '../http/types.ts';
import type { Context } from '../app/context.ts';
import { startWorker } from '../app/roles/worker.ts';
import { createTestApp } from '../../test/support/harness.ts';
import { createAccount, uniqueUsername } from '../../test/support/factories.ts';
import { drain } from '../../test/support/drain.ts';
import { parseScript } from './script-parser.ts';
import { runScript, type CommandResult, type RunOptions } from './script-runner.ts';
import { summarize } from './script-report.ts';

let app: App;
let ctx: Context;
let baseUrl: string;
before(async () => {
  ({ app, ctx } = await createTestApp({ env: { OUTBOX_POLL_MS: '10' } }));
  baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
});

/** Fresh usernames for a script: `{ a, b }` → `$a`, `$b` in the source. */
function names<K extends string>(...keys: K[]): Record<K, string> {
  return Object.fromEntries(keys.map((k) => [k, uniqueUsername(k)])) as Record<K, string>;
}

const add = (username: string) =>
  `ADD, ${username}, 02-04-1997, ${username}@example.com, correct-horse-1`;

async function run(source: string, opts: Partial<RunOptions> = {}) {
  const { commands, errors } = parseScript(source);
  assert.deepEqual(errors, []);
  return runScript(commands, { baseUrl, ...opts });
}

const summaries = (results: readonly CommandResult[]) =>
  results.map((r) => `${r.line} ${r.command} ${r.ok ? 'ok' : 'FAIL'}: ${r.message}`);

async function get<T>(url: string, login: string): Promise<T> {
  const session = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { login, password: 'correct-horse-1' },
  });
  const token = session.json<{ access_token: string }>().access_token;
  const res = await app.inject({ url, headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<T>();
}

describe('runScript', () => {
  it('acts as each user, names posts by number, and reports ids and latencies', async () => {
    const { a, b } = names('a', 'b');
    const report = await run(
      [
        add(a),
        add(b),
        `CREATE_POST, ${a}, "Hello, world"`,
        `EDIT_POST, ${a}, 1, "Hello again, world"`,
        `COMMENT, ${b}, 1, "Welcome!"`,
        `LIKE, ${b}, 1`,
        `LIKE, ${b}, 1`,
        `FOLLOW, ${b}, ${a}`,
        `FOLLOW, ${b}, ${a}`,
        `UNFOLLOW, ${b}, ${a}`,
        `UNLIKE, ${b}, 1`,
        'SLEEP, 20',
      ].join('\n'),
    );
    const [addA, addB, post, , comment] = report.results;
    const postId = post!.id!;
    assert.deepEqual(summaries(report.results), [
      `1 ADD ok: user ${a} = ${addA!.id}`,
      `2 ADD ok: user ${b} = ${addB!.id}`,
      `3 CREATE_POST ok: post 1 = ${postId}`,
      '4 EDIT_POST ok: post 1 edited',
      `5 COMMENT ok: comment = ${comment!.id} on post 1`,
      '6 LIKE ok: post 1 liked (1 like)',
      '7 LIKE ok: post 1 was already liked (1 like)',
      `8 FOLLOW ok: following ${a}`,
      `9 FOLLOW ok: already following ${a}`,
      `10 UNFOLLOW ok: no longer following ${a}`,
      '11 UNLIKE ok: post 1 unliked (0 likes)',
      '12 SLEEP ok: slept 20 ms',
    ]);
    assert.deepEqual(
      report.results.map((r) => r.user),
      [a, b, a, a, b, b, b, b, b, b, b, undefined],
    );
    const me = await get<{ id: string }>('/api/v1/me', a);
    assert.equal(me.id, addA!.id);
    const saved = await get<{ text: string; author: { username: string }; comment_count: number }>(
      `/api/v1/posts/${postId}`,
      b,
    );
    assert.deepEqual(
      [saved.text, saved.author.username, saved.comment_count],
      ['Hello again, world', a, 1],
    );
    assert.ok(report.results.every((r) => r.latencyMs > 0 && r.rateLimitWaitMs === 0));
    assert.ok(
      report.results.at(-1)!.latencyMs >= 15,
      'SLEEP takes its time (timers may fire ~1 ms early)',
    );
    assert.equal(report.notRun, 0);
    assert.ok(report.totalMs >= report.results.reduce((sum, r) => sum + r.latencyMs, 0));
  });

  it("stops at the first failure with the server's error, or runs past it with keepGoing", async () => {
    const script = (a: string) =>
      [
        add(a),
        `CREATE_POST, ${a}, bye`,
        `DELETE_POST, ${a}, 1`,
        `LIKE, ${a}, 1`,
        `CREATE_POST, ${a}, "after the failure"`,
      ].join('\n');
    const seen: number[] = [];
    const stopped = await run(script(names('a').a), { onResult: (r) => seen.push(r.line) });
    assert.deepEqual(seen, [1, 2, 3, 4]);
    const failed = stopped.results.at(-1)!;
    assert.deepEqual(
      [failed.ok, failed.error, failed.message],
      [
        false,
        { status: 404, code: 'post_not_found', detail: 'No such post.' },
        '404 post_not_found: No such post.',
      ],
    );
    assert.equal(stopped.notRun, 1);
    assert.equal(summarize(stopped).stoppedAtLine, 4);

    const kept = await run(script(names('a').a), { keepGoing: true });
    assert.deepEqual(
      kept.results.map((r) => r.ok),
      [true, true, true, false, true],
    );
    assert.deepEqual([kept.notRun, summarize(kept).stoppedAtLine], [0, undefined]);
  });

  it('reports client-side failures: a user whose login failed, a post that was never created', async () => {
    const { a } = names('a');
    const report = await run(
      [
        `LOGIN, ${a}, wrong-password`,
        `FEED, ${a}`,
        add(a),
        `CREATE_POST, ${a}, """"`,
        `CREATE_POST, ${a}, "${'x'.repeat(5001)}"`,
        `LIKE, ${a}, 2`,
      ].join('\n'),
      { keepGoing: true },
    );
    assert.deepEqual(summaries(report.results).slice(0, 2), [
      '1 LOGIN FAIL: 401 invalid_credentials: The login or password is not correct.',
      `2 FEED FAIL: not logged in as ${a}: the ADD or LOGIN line for that user failed`,
    ]);
    assert.equal(report.results[1]!.error?.status, undefined);
    assert.deepEqual(
      report.results.slice(3).map((r) => [r.ok, r.error?.code]),
      [
        [true, undefined],
        [false, 'validation_failed'],
        [false, undefined],
      ],
    );
    assert.match(report.results[4]!.message, /^400 validation_failed: .*\/text/);
    assert.equal(report.results[5]!.message, 'post 2 was not created (its line failed)');
  });

  it('handles friend requests sent by the script, found on the server, crossed or missing', async () => {
    const { a, b, c } = names('a', 'b', 'c');
    const outsider = await createAccount(app);
    const report = await run(
      [
        add(a),
        add(b),
        add(c),
        `FRIEND_REQUEST, ${a}, ${b}`,
        `ACCEPT_FRIEND, ${b}, ${a}`,
        `FRIEND_REQUEST, ${c}, ${a}`,
        `FRIEND_REQUEST, ${a}, ${c}`,
        `FRIEND_REQUEST, ${b}, ${c}`,
        `DECLINE_FRIEND, ${c}, ${b}`,
        `DECLINE_FRIEND, ${c}, ${b}`,
        `LOGIN, ${outsider.username}, ${outsider.password}`,
        `FRIEND_REQUEST, ${outsider.username}, ${b}`,
      ].join('\n'),
      { keepGoing: true },
    );
    const requestId = report.results[3]!.id!;
    assert.deepEqual(summaries(report.results.slice(3)), [
      `4 FRIEND_REQUEST ok: friend request = ${requestId} to ${b}`,
      `5 ACCEPT_FRIEND ok: now friends with ${a} (request ${requestId})`,
      `6 FRIEND_REQUEST ok: friend request = ${report.results[5]!.id} to ${a}`,
      `7 FRIEND_REQUEST ok: ${c} had asked first: now friends (request ${report.results[5]!.id})`,
      `8 FRIEND_REQUEST ok: friend request = ${report.results[7]!.id} to ${c}`,
      `9 DECLINE_FRIEND ok: declined ${b}'s request ${report.results[7]!.id}`,
      `10 DECLINE_FRIEND FAIL: ${c} has no pending friend request from ${b}`,
      `11 LOGIN ok: logged in as ${outsider.username} = ${outsider.id}`,
      `12 FRIEND_REQUEST ok: friend request = ${report.results[11]!.id} to ${b}`,
    ]);
    // A request the script did not send is found through GET /friend-requests.
    const accepted = await run(
      [`LOGIN, ${b}, correct-horse-1`, `ACCEPT_FRIEND, ${b}, ${outsider.username}`].join('\n'),
    );
    assert.equal(
      accepted.results[1]!.message,
      `now friends with ${outsider.username} (request ${report.results[11]!.id})`,
    );
    const friends = await get<{ items: { username: string }[] }>(`/api/v1/users/${b}/friends`, b);
    assert.deepEqual(friends.items.map((u) => u.username).sort(), [a, outsider.username].sort());
  });

  it('sends messages in one conversation per pair, whoever writes first', async () => {
    const { a, b } = names('a', 'b');
    const report = await run(
      [add(a), add(b), `MESSAGE, ${a}, ${b}, "Coffee, Friday?"`, `MESSAGE, ${b}, ${a}, Yes!`].join(
        '\n',
      ),
    );
    const conversations = await get<{ items: { id: string; with: { username: string } }[] }>(
      '/api/v1/conversations',
      a,
    );
    assert.deepEqual(
      conversations.items.map((c) => c.with.username),
      [b],
    );
    const messages = await get<{
      items: { id: string; text: string; sender: { username: string } }[];
    }>(`/api/v1/conversations/${conversations.items[0]!.id}/messages`, b);
    assert.deepEqual(
      messages.items.map((m) => [m.id, m.sender.username, m.text]).sort(),
      [
        [report.results[2]!.id, a, 'Coffee, Friday?'],
        [report.results[3]!.id, b, 'Yes!'],
      ].sort(),
    );
  });

  it('FEED and NOTIFICATIONS print the first page, naming the script’s posts by number', async (t) => {
    const worker = await startWorker(ctx);
    t.after(() => worker.stop());
    const { a, b } = names('a', 'b');
    await run(
      [
        add(a),
        add(b),
        `FOLLOW, ${b}, ${a}`,
        `CREATE_POST, ${a}, first`,
        `CREATE_POST, ${a}, second`,
        `LIKE, ${b}, 1`,
      ].join('\n'),
    );
    await drain(ctx);
    const report = await run(
      [
        `LOGIN, ${a}, correct-horse-1`,
        `LOGIN, ${b}, correct-horse-1`,
        `FEED, ${b}`,
        `NOTIFICATIONS, ${a}`,
      ].join('\n'),
    );
    const [, , feed, notifications] = report.results;
    assert.equal(feed!.message, '2 posts');
    assert.deepEqual(
      feed!.items!.map((p) => ('text' in p ? [p.post, p.author, p.text, p.like_count] : [])),
      // Posts this run did not create have no number: they came from the earlier run.
      [
        [undefined, a, 'second', 0],
        [undefined, a, 'first', 1],
      ],
    );
    assert.equal(notifications!.message, '2 notifications, 2 unread');
    assert.deepEqual(
      notifications!.items!.map((n) => ('type' in n ? [n.type, n.actors, n.read] : [])),
      [
        ['like', [b], false],
        ['follow', [b], false],
      ],
    );
  });
});

describe('runScript against limits and failures', () => {
  it('waits out 429 answers for Retry-After, retries, and reports the wait apart from latency', async () => {
    const limited = await createTestApp({
      env: { RATE_LIMIT_AUTH_PER_IP: '1', RATE_LIMIT_WINDOW: '1' },
    });
    const url = await limited.app.listen({ port: 0, host: '127.0.0.1' });
    const { a, b } = names('a', 'b');
    const waits: number[] = [];
    const announced: number[] = [];
    const { commands } = parseScript([add(a), add(b), `FEED, ${b}`].join('\n'));
    const report = await runScript(commands, {
      baseUrl: url,
      sleep: async (ms) => {
        waits.push(ms);
        await delay(ms);
      },
      onRateLimit: (ms) => announced.push(ms),
    });
    assert.deepEqual(
      report.results.map((r) => r.ok),
      [true, true, true],
    );
    assert.ok(waits.length >= 2, 'four auth calls on a budget of one a second: 429s');
    assert.deepEqual(announced, waits);
    assert.deepEqual(
      waits.filter((ms) => ms !== 1000),
      [],
      'Retry-After is 1 s',
    );
    const waited = report.results.reduce((sum, r) => sum + r.rateLimitWaitMs, 0);
    assert.equal(
      waited,
      waits.reduce((x, y) => x + y),
    );
    assert.equal(summarize(report).rateLimitWaitMs, waited);
    // Latencies leave the waits out: together they fit in the run's wall time.
    const latency = report.results.reduce((sum, r) => sum + r.latencyMs, 0);
    assert.ok(latency + waited <= report.totalMs, `${latency} + ${waited} > ${report.totalMs}`);
  });

  it('gives up after the retry budget with the 429 problem', async () => {
    const always429: typeof fetch = async () =>
      new Response(
        JSON.stringify({ code: 'rate_limited', detail: 'Too many requests; retry in 1 s.' }),
        {
          status: 429,
          headers: { 'content-type': 'application/problem+json', 'retry-after': '1' },
        },
      );
    const waits: number[] = [];
    const { commands } = parseScript(add('zed_never'));
    const report = await runScript(commands, {
      baseUrl: 'http://kith.invalid',
      fetch: always429,
      maxRetries: 2,
      sleep: async (ms) => void waits.push(ms),
    });
    assert.deepEqual(waits, [1000, 1000]);
    assert.deepEqual(report.results[0]!.error, {
      status: 429,
      code: 'rate_limited',
      detail: 'Too many requests; retry in 1 s.',
    });
    assert.equal(report.results[0]!.rateLimitWaitMs, 2000);
  });

  it('logs in again when the access token has expired, and carries on', async () => {
    const { a } = names('a');
    const calls: string[] = [];
    let expireNext = false;
    const flaky: typeof fetch = async (input, init) => {
      const path = new URL(input).pathname;
      calls.push(`${init?.method} ${path}`);
      if (expireNext && path === '/api/v1/posts') {
        expireNext = false;
        return new Response(
          JSON.stringify({ code: 'token_expired', detail: 'The access token has expired.' }),
          { status: 401, headers: { 'content-type': 'application/problem+json' } },
        );
      }
      return fetch(input, init);
    };
    const { commands } = parseScript([add(a), `CREATE_POST, ${a}, hi`].join('\n'));
    const report = await runScript(commands, {
      baseUrl,
      fetch: flaky,
      onResult: (r) => void (expireNext = r.command === 'ADD'),
    });
    assert.deepEqual(
      report.results.map((r) => r.ok),
      [true, true],
    );
    assert.deepEqual(calls, [
      'POST /api/v1/auth/register',
      'POST /api/v1/auth/login',
      'POST /api/v1/posts',
      'POST /api/v1/auth/login',
      'POST /api/v1/posts',
    ]);
  });

  it('says when the server cannot be reached, and how to start it', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const { commands } = parseScript(add('zed_nowhere'));
    const report = await runScript(commands, { baseUrl: `http://127.0.0.1:${port}/` });
    assert.equal(report.url, `http://127.0.0.1:${port}`);
    assert.deepEqual(report.results[0]!.error, {
      detail: `cannot reach http://127.0.0.1:${port} (ECONNREFUSED); is kith running there? Start it with \`npm start\` or pass --url`,
    });
  });
});
