/**
 * Streams across API nodes: two `kith serve` processes with ROLES=api and one worker process on
 * the real Postgres, Redis and RabbitMQ. A stream event committed through one node (or by the
 * worker) reaches connections on the other through the broadcast exchange; a client that moves
 * to the other node resumes from the shared log.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { signUpOn, type ServerUser } from '../support/api.ts';
import { TEST_JWT_SECRET } from '../support/harness.ts';
import { callServer as call } from '../support/http-client.ts';
import { amqpUrl, deleteAmqpTopology, redisUrl, testPrefix } from '../support/services.ts';
import { openStream, terminateStreams } from '../support/streams.ts';
import { waitFor } from '../support/wait.ts';
import { createTestDatabase, postgresUrl } from '../support/test-databases.ts';

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
const API = '/api/v1';
const REAL = Boolean(postgresUrl() && redisUrl() && amqpUrl());

type Ev = { seq: number; type: string; data: Record<string, unknown> };
type User = ServerUser;
type Kith = { url: string; lines: string[]; stop: () => Promise<number | null> };
/** Every process started, stopped after the tests even when one failed to start. */
const running = new Set<() => Promise<number | null>>();

/** Starts `kith serve` with exactly `env` (plus PATH); resolves once it logged `ready`. */
async function startKith(env: Record<string, string>, ready: string): Promise<Kith> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kith-nodes-'));
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: { PATH: process.env.PATH, DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const code = await exited;
    rmSync(dataDir, { recursive: true, force: true });
    return code;
  };
  running.add(stop);
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      lines.push(line);
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      if (entry.msg === ready) resolve(entry.url ?? '');
    });
    void exited.then((code) => reject(new Error(`exited ${code}: ${lines.join('\n')}`)));
  });
  return { url, lines, stop };
}

const signUp = (base: string) => signUpOn(base, 'n');

/** A WebSocket of `user` on the node at `base`, resuming after `since`. */
const connect = (base: string, user: User, since: number) =>
  openStream<Ev>(new URL(`${API}/stream?since=${since}`, base), {
    authorization: `Bearer ${user.token}`,
  });

describe(
  'streams across API nodes',
  {
    skip: !REAL && 'set DATABASE_URL, REDIS_URL and AMQP_URL',
    timeout: 120_000,
  },
  () => {
    const amqpPrefix = `${testPrefix}.nodes`;
    let nodes: [Kith, Kith];
    let worker: Kith;
    let groups = ['feed', 'mail', 'notifications']; // replaced by what the worker logs
    let dropDatabase: () => Promise<void> = async () => {};

    before(async () => {
      const database = await createTestDatabase();
      dropDatabase = () => database.drop();
      const env = {
        DATABASE_URL: database.databaseUrl!,
        REDIS_URL: redisUrl()!,
        AMQP_URL: amqpUrl()!,
        AMQP_PREFIX: amqpPrefix,
        REDIS_PREFIX: `${testPrefix}:nodes:`,
        HOST: '127.0.0.1',
        PORT: '0',
        JWT_SECRET: TEST_JWT_SECRET,
        LOG_LEVEL: 'info',
        BCRYPT_COST: '4',
        OUTBOX_POLL_MS: '20',
        RATE_LIMIT_AUTH_PER_IP: '100000',
      };
      const api = { ...env, ROLES: 'api' };
      [worker, ...nodes] = await Promise.all([
        startKith({ ...env, ROLES: 'worker', METRICS_PORT: '0' }, 'kith worker is running'),
        startKith(api, 'kith is serving'),
        startKith(api, 'kith is serving'),
      ]);
      const started = worker.lines.find((l) => l.includes('"msg":"worker started"'));
      groups = (JSON.parse(started ?? '{}') as { consumers?: string[] }).consumers ?? [];
      assert.ok(groups.includes('notifications'), started);
    });

    after(async () => {
      terminateStreams();
      const codes = await Promise.all([...running].map((stop) => stop()));
      await dropDatabase();
      await deleteAmqpTopology(amqpUrl()!, amqpPrefix, groups);
      assert.deepEqual(
        codes,
        codes.map(() => 0),
        'every process stopped cleanly',
      );
    });

    it('B on node 1 gets the friend request and the message A wrote through node 2', async () => {
      const [one, two] = nodes;
      const [a, b] = [await signUp(two.url), await signUp(two.url)];
      const [bStream, aStream] = [await connect(one.url, b, 0), await connect(one.url, a, 0)];
      const request = await call(
        two.url,
        'POST',
        `${API}/users/${b.username}/friend-request`,
        undefined,
        a.token,
      );
      assert.equal(request.status, 201, request.text);
      const [notification] = await bStream.count(1); // written by the worker process
      assert.equal(notification!.type, 'notification');
      const note = notification!.data as {
        type: string;
        actors: { id: string }[];
        request_id: string;
      };
      assert.deepEqual(
        [note.type, note.actors.map((u) => u.id), note.request_id],
        ['friend_request', [a.id], request.json().id],
      );
      const conv = await call(
        two.url,
        'POST',
        `${API}/conversations`,
        { username: b.username },
        a.token,
      );
      assert.equal(conv.status, 201, conv.text);
      const path = `${API}/conversations/${conv.json().id}/messages`;
      const sent = await call(two.url, 'POST', path, { text: 'across nodes' }, a.token);
      assert.equal(sent.status, 201, sent.text);
      const evs = await bStream.count(2);
      assert.deepEqual(
        evs.map((e) => [e.seq, e.type]),
        [
          [1, 'notification'],
          [2, 'message'],
        ],
      );
      assert.equal(evs[1]!.data.id, sent.json().id);
      const [own] = await aStream.count(1); // the sender's other connection
      assert.deepEqual([own!.type, own!.data.id], ['message', sent.json().id]);
    });

    it('a client that reconnects to the other node resumes after its last seq', async () => {
      const [one, two] = nodes;
      const [a, b] = [await signUp(one.url), await signUp(two.url)];
      const conv = await call(
        one.url,
        'POST',
        `${API}/conversations`,
        { username: b.username },
        a.token,
      );
      assert.equal(conv.status, 201, conv.text);
      const say = async (text: string) => {
        const path = `${API}/conversations/${conv.json().id}/messages`;
        const res = await call(one.url, 'POST', path, { text }, a.token);
        assert.equal(res.status, 201, res.text);
      };
      const first = await connect(one.url, b, 0);
      await say('one');
      const [seen] = await first.count(1);
      await first.close();
      await say('two');
      await say('three');
      const moved = await connect(two.url, b, seen!.seq);
      await say('four');
      const evs = await moved.count(3);
      assert.deepEqual(
        evs.map((e) => [e.seq, e.data.text]),
        [
          [seen!.seq + 1, 'two'],
          [seen!.seq + 2, 'three'],
          [seen!.seq + 3, 'four'],
        ],
      );
      // Nothing else arrives: another message is the very next event.
      await say('five');
      assert.deepEqual(
        (await moved.count(4)).map((e) => e.data.text),
        ['two', 'three', 'four', 'five'],
      );
    });

    it("Mastodon's streaming API on node 1 gets the post and the follow made through node 2", async () => {
      const [one, two] = nodes;
      const [a, b] = [await signUp(two.url), await signUp(two.url)];
      const followed = await call(
        two.url,
        'POST',
        `${API}/users/${a.username}/follow`,
        undefined,
        b.token,
      );
      assert.equal(followed.status, 200, followed.text);
      // Reading the home feed makes kith keep b's timeline, which the fan-out writes to.
      assert.equal((await call(one.url, 'GET', `${API}/feed`, undefined, b.token)).status, 200);
      const subscribed = async () => {
        const text = await (await fetch(`${one.url}/metrics`)).text();
        return Number(
          /kith_mastodon_stream_subscriptions\{stream="user"\} (\d+)/.exec(text)?.[1] ?? 0,
        );
      };
      const before = await subscribed();
      // The token as the subprotocol, as masto.js sends it.
      const stream = await openStream<{ stream: string[]; event: string; payload: string }>(
        new URL('/api/v1/streaming', one.url.replace(/^http/, 'ws')),
        {},
        [b.token],
      );
      stream.socket.send(JSON.stringify({ type: 'subscribe', stream: 'user' }));
      await waitFor(async () => (await subscribed()) === before + 1, 'subscribed on node 1');
      const posted = await call(two.url, 'POST', `${API}/posts`, { text: 'from node 2' }, a.token);
      assert.equal(posted.status, 201, posted.text);
      const update = await stream.until((f) => f.find((e) => e.event === 'update'), 'update');
      assert.deepEqual(update.stream, ['user']);
      assert.equal((JSON.parse(update.payload) as { id: string }).id, posted.json().id);
      const back = await call(
        two.url,
        'POST',
        `${API}/users/${b.username}/follow`,
        undefined,
        a.token,
      );
      assert.equal(back.status, 200, back.text);
      const note = await stream.until(
        (f) => f.find((e) => e.event === 'notification'),
        'notification',
      );
      assert.equal((JSON.parse(note.payload) as { type: string }).type, 'follow');
      await stream.close();
    });

    it("Mastodon's public and hashtag streams on both nodes get a public post made through one", async () => {
      const [one, two] = nodes;
      const [a, b, c, blocked] = [
        await signUp(two.url),
        await signUp(one.url),
        await signUp(two.url),
        await signUp(one.url),
      ];
      const blocking = await call(
        one.url,
        'POST',
        `${API}/users/${a.username}/block`,
        undefined,
        blocked.token,
      );
      assert.equal(blocking.status, 200, blocking.text);
      const tag = `nodes${Date.now().toString(36)}`;
      type Frame = { stream: string[]; event: string; payload: string };
      const gauge = async (url: string, name: string) => {
        const text = await (await fetch(`${url}/metrics`)).text();
        const line = new RegExp(`kith_mastodon_stream_subscriptions\\{stream="${name}"\\} (\\d+)`);
        return Number(line.exec(text)?.[1] ?? 0);
      };
      /** A socket of `who` on `url` subscribed to `query`, once the node counts it. */
      const open = async (url: string, who: User, query: string, name: string) => {
        const before = await gauge(url, name);
        const socket = await openStream<Frame>(
          new URL(`/api/v1/streaming?${query}`, url.replace(/^http/, 'ws')),
          { authorization: `Bearer ${who.token}` },
        );
        await waitFor(async () => (await gauge(url, name)) === before + 1, `${name} on ${url}`);
        return socket;
      };
      const onOne = await open(one.url, b, 'stream=public', 'public');
      const onTwo = await open(two.url, c, `stream=hashtag&tag=${tag}`, 'hashtag');
      const hidden = await open(one.url, blocked, 'stream=public', 'public');
      const posted = await call(two.url, 'POST', `${API}/posts`, { text: `#${tag}` }, a.token);
      assert.equal(posted.status, 201, posted.text);
      const id = posted.json().id as string;
      const update = (f: Frame[]) =>
        f.find((e) => e.event === 'update' && (JSON.parse(e.payload) as { id: string }).id === id);
      assert.deepEqual((await onOne.until(update, 'public update on node 1')).stream, ['public']);
      assert.deepEqual((await onTwo.until(update, 'hashtag update on node 2')).stream, [
        'hashtag',
        tag,
      ]);
      // A later post by someone else reaches the blocked user; a's never did.
      const later = await call(one.url, 'POST', `${API}/posts`, { text: 'later' }, b.token);
      assert.equal(later.status, 201, later.text);
      const frames = await hidden.until(
        (f) => f.some((e) => (JSON.parse(e.payload) as { id: string }).id === later.json().id) && f,
        'the later post',
      );
      assert.ok(!frames.some((e) => e.payload.includes(id)), 'the blocked side saw nothing');
      for (const s of [onOne, onTwo, hidden]) await s.close();
    });
  },
);
