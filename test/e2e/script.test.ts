import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import type { RunningRole } from '../../src/app/roles/api.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { drain } from '../support/drain.ts';
import { createTestApp } from '../support/harness.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const DEMO = new URL('../../examples/demo-script.txt', import.meta.url).pathname;
const [REDIS, AMQP] = [redisUrl(), amqpUrl()];
const AMQP_PREFIX = `${testPrefix}.script`;

if (REDIS) await testRedis(); // removes this file's keys after the file
let groups: string[] = [];
// Registered after the harness's cleanup, so it runs once the app has closed.
if (AMQP) after(() => deleteAmqpTopology(AMQP, AMQP_PREFIX, groups));

/** Runs `kith script …` as a process, as a user would. */
function kith(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [MAIN, 'script', ...args], {
    env: { PATH: process.env.PATH },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, out, err })));
}

let app: App;
let ctx: Context;
let base: string;
let worker: RunningRole;

const tokens = new Map<string, string>();
/** GET as one of the demo's users (their passwords are in the script). */
async function get<T>(
  url: string,
  as: 'ana' | 'ben' | 'cleo',
): Promise<{ status: number; body: T }> {
  const passwords = { ana: 'correct-horse-1', ben: 'battery-staple-2', cleo: 'purple-monkey-3' };
  if (!tokens.has(as)) {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { login: as, password: passwords[as] },
    });
    assert.equal(res.statusCode, 200, res.body);
    tokens.set(as, res.json<{ access_token: string }>().access_token);
  }
  const res = await app.inject({
    url: `/api/v1${url}`,
    headers: { authorization: `Bearer ${tokens.get(as)}` },
  });
  return { status: res.statusCode, body: res.json<T>() };
}

type Post = {
  id: string;
  author: { username: string };
  text: string;
  visibility: string;
  like_count: number;
  comment_count: number;
  edited_at: string | null;
};
type Page<T> = { items: T[] };
const usernames = (page: Page<{ username: string }>) => page.items.map((u) => u.username).sort();

describe('kith script examples/demo-script.txt', { timeout: 60_000 }, () => {
  // One server and worker for the file; the hooks of a describe run before the harness closes it.
  before(async () => {
    ({ app, ctx } = await createTestApp({
      env: {
        OUTBOX_POLL_MS: '10',
        ...(REDIS && { REDIS_URL: REDIS, REDIS_PREFIX: `${testPrefix}:script:` }),
        ...(AMQP && { AMQP_URL: AMQP, AMQP_PREFIX }),
      },
    }));
    groups = ctx.consumers.map((c) => c.group);
    worker = await startWorker(ctx);
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => worker.stop());
  let ids: Map<number, string>;

  it('runs every command of the demo against a live server and reports each one', async () => {
    const { code, out, err } = await kith(DEMO, '--url', base);
    assert.equal(code, 0, `${out}\n${err}`);
    assert.equal(err, '');
    const lines = out.split('\n');
    const commandLines = lines.filter((l) => /^\s+\d+ \[\d+\]/.test(l));
    assert.equal(commandLines.length, 21, out);
    assert.ok(
      commandLines.every((l) => / \d+\.\d ms {2}ok {4}/.test(l)),
      out,
    );
    // Post N of the script is the Nth CREATE_POST; the output gives each one's id.
    ids = new Map(
      [...out.matchAll(/ post (\d) = ([0-9a-f-]{36})/g)].map((m) => [Number(m[1]), m[2]!]),
    );
    assert.deepEqual([...ids.keys()], [1, 2, 3, 4]);
    assert.match(
      out,
      /\[8\] +ACCEPT_FRIEND +ben .* now friends with ana \(request [0-9a-f-]{36}\)/,
    );
    assert.match(out, /\[10\] +LIKE +ana .* post 2 liked \(1 like\)/);
    assert.match(out, /\[15\] +DELETE_POST +cleo .* post 4 deleted/);
    // ana's feed: her friend ben's posts (the friends-only one too) and her own, newest first.
    const feed = out.slice(out.indexOf('[19]'), out.indexOf('[20]')).split('\n');
    assert.deepEqual(
      feed.slice(1, 4).map((l) => l.trim()),
      [
        '- post 3 by ben: "Only my friends can read this" (0 likes, 0 comments)',
        '- post 2 by ben: "Trying out kith: \\"friends\\", follows, likes, all of it" (1 like, 0 comments)',
        '- post 1 by ana: "Hello again, world" (1 like, 1 comment)',
      ],
    );
    assert.match(
      out,
      /Time taken: \d+\.\d{3} s for 21 commands against http:\/\/127\.0\.0\.1:\d+; 21 ok, 0 failed\./,
    );
    assert.match(out, /\nADD +3 +0 +\d+\.\d ms +\d+\.\d ms\n/);
    assert.match(out, /\nCREATE_POST +4 +0 /);
  });

  it('left posts, the edit, the comment, likes and a deleted post', async () => {
    const first = await get<Post>(`/posts/${ids.get(1)}`, 'cleo');
    assert.equal(first.status, 200);
    assert.deepEqual(
      [
        first.body.author.username,
        first.body.text,
        first.body.like_count,
        first.body.comment_count,
      ],
      ['ana', 'Hello again, world', 1, 1],
    );
    assert.notEqual(first.body.edited_at, null);
    const comments = await get<Page<{ text: string; author: { username: string } }>>(
      `/posts/${ids.get(1)}/comments`,
      'ana',
    );
    assert.deepEqual(
      comments.body.items.map((c) => [c.author.username, c.text]),
      [['ben', 'Welcome!']],
    );
    const likers = await get<Page<{ username: string }>>(`/posts/${ids.get(1)}/likes`, 'ana');
    assert.deepEqual(usernames(likers.body), ['cleo']);
    const second = await get<Post & { liked: boolean }>(`/posts/${ids.get(2)}`, 'ana');
    assert.deepEqual(
      [second.body.text, second.body.liked, second.body.like_count],
      ['Trying out kith: "friends", follows, likes, all of it', true, 1],
    );
    const friendsOnly = ids.get(3);
    assert.equal((await get<Post>(`/posts/${friendsOnly}`, 'ana')).body.visibility, 'friends');
    assert.equal((await get(`/posts/${friendsOnly}`, 'cleo')).status, 404, 'cleo is no friend');
    assert.equal((await get(`/posts/${ids.get(4)}`, 'cleo')).status, 404, 'deleted');
  });

  it('left the friendship, the follow and the conversation', async () => {
    assert.deepEqual(
      usernames((await get<Page<{ username: string }>>('/users/ana/friends', 'ana')).body),
      ['ben'],
    );
    assert.deepEqual(
      usernames((await get<Page<{ username: string }>>('/users/ana/followers', 'ana')).body),
      ['ben', 'cleo'],
    );
    // cleo is not ben's friend: of ben's two posts, cleo may see (and counts) the public one.
    const profile = await get<Record<string, number>>('/users/ben', 'cleo');
    assert.deepEqual(
      [profile.body.post_count, profile.body.friend_count, profile.body.following_count],
      [1, 1, 1],
    );
    const asBen = await get<Record<string, number>>('/users/ben', 'ben');
    assert.equal(asBen.body.post_count, 2);
    const conversations = await get<Page<{ id: string; with: { username: string } }>>(
      '/conversations',
      'ben',
    );
    assert.deepEqual(
      conversations.body.items.map((c) => c.with.username),
      ['ana'],
    );
    const messages = await get<Page<{ text: string; sender: { username: string } }>>(
      `/conversations/${conversations.body.items[0]!.id}/messages`,
      'ana',
    );
    assert.deepEqual(messages.body.items.map((m) => [m.sender.username, m.text]).reverse(), [
      ['ana', 'Coffee on Friday?'],
      ['ben', 'Yes, at 10!'],
    ]);
  });

  it('left the feeds and notifications the worker builds from it', async () => {
    await drain(ctx);
    const feed = await get<Page<Post>>('/feed', 'cleo');
    assert.deepEqual(
      feed.body.items.map((p) => p.id),
      [ids.get(1)],
    );
    const notifications = await get<Page<{ type: string; actors: { username: string }[] }>>(
      '/notifications',
      'ana',
    );
    // The worker may handle events in parallel: the set matters here, not the order.
    assert.deepEqual(
      notifications.body.items
        .map((n) => `${n.type} ${n.actors.map((a) => a.username).join()}`)
        .sort(),
      ['comment ben', 'follow cleo', 'friend_accepted ben', 'like cleo'],
    );
  });

  it('run again, stops at its first failure with the server error and exit code 1', async () => {
    const { code, out } = await kith(DEMO, '--url', base);
    assert.equal(code, 1);
    assert.match(out, /^ +10 \[1\] +ADD +ana +\d+\.\d ms {2}FAIL {2}409 username_taken: /m);
    assert.match(
      out,
      /Stopped at line 10; 20 more commands not run \(--keep-going runs past failures\)\./,
    );
  });

  it('refuses a malformed file with exit code 2 before sending anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kith-script-'));
    const file = join(dir, 'bad.txt');
    writeFileSync(file, 'ADD, dora, 1990-01-01, dora@example.com, pw-12345678\nPOST, dora, hi\n');
    const { code, out, err } = await kith(file, '--url', base);
    assert.deepEqual([code, out], [2, '']);
    assert.equal(
      err,
      `${file}:2: unknown command "POST"; expected one of ADD, LOGIN, CREATE_POST, EDIT_POST, DELETE_POST, COMMENT, LIKE, UNLIKE, FRIEND_REQUEST, ACCEPT_FRIEND, DECLINE_FRIEND, FOLLOW, UNFOLLOW, MESSAGE, FEED, NOTIFICATIONS, SLEEP\n` +
        `kith script: 1 malformed line(s) in ${file}; nothing was sent.\n`,
    );
    const dora = await app.inject({ url: '/api/v1/users/dora' });
    assert.equal(dora.statusCode, 404, 'line 1 was not run');
  });
});
