/**
 * RabbitMQ cut off (issue 11): kith reaches the broker through a proxy the test cuts for a few
 * seconds while users post, like, comment, follow and send direct messages. Writes keep
 * answering; once the broker is back, every post is fanned out, every notification and message
 * reaches the stream log, the WebSockets and the notification lists, and nothing twice (the
 * relay may publish an event again when a confirm was lost; consumers absorb it).
 * Needs a real broker to cut: the embedded run (in-process bus) skips this file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { drain } from '../support/drain.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import {
  amqpUrl,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
  testRedis,
} from '../support/services.ts';
import { openStream, terminateStreams } from '../support/streams.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { waitFor } from '../support/wait.ts';

const AMQP = amqpUrl();
const PREFIX = `${testPrefix}.broker`;
/** How long the broker stays cut off, counted from the cut (the writes happen meanwhile). */
const OUTAGE_MS = 3_000;
/** Every write answers within this while the broker is away: none waits for it. */
const WRITE_BOUND_MS = 2_000;
if (redisUrl()) await testRedis(); // removes this file's Redis keys afterwards

type Ev = { seq: number; type: string; data: Record<string, unknown> };

/** A WebSocket of `user` on `base`, from its `ready` event on, and what it receives. */
async function subscribe(base: string, user: Account) {
  const inbox = await openStream<Ev>(new URL('/api/v1/stream', base), user.auth);
  const ready = await inbox.until((events) => events[0], `${user.username}'s ready event`);
  assert.equal(ready.type, 'ready');
  return { socket: inbox.socket, events: inbox.events, from: ready.seq };
}
type Stream = Awaited<ReturnType<typeof subscribe>>;

/** What a stream event is about, so that a duplicate shows as a repeated key. */
function keyOf(e: Ev): string {
  if (e.type === 'feed.post') return `feed.post ${String(e.data.post_id)}`;
  if (e.type === 'message') return `message ${String(e.data.id)}`;
  if (e.type === 'notification') {
    const n = e.data as { type: string; actors: { id: string }[]; post_id: string | null };
    return `notification ${n.type} ${n.actors.map((a) => a.id).join()} ${n.post_id}`;
  }
  return e.type;
}

describe(
  'a RabbitMQ outage during a stream of writes',
  {
    skip: !AMQP && 'needs AMQP_URL (a real broker to cut)',
    timeout: 120_000,
  },
  () => {
    const proxy = new TcpProxy(AMQP ?? 'amqp://127.0.0.1');
    const streams: Stream[] = [];
    let app: App;
    let ctx: Context;
    let base = '';
    let stopWorker = async () => {};
    let groups: string[] = [];

    before(async () => {
      const proxied = await proxy.start(AMQP!);
      ({ app, ctx } = await createTestApp({
        env: {
          AMQP_URL: proxied,
          AMQP_PREFIX: PREFIX,
          ...(redisUrl() && { REDIS_URL: redisUrl(), REDIS_PREFIX: `${testPrefix}:broker:` }),
          OUTBOX_POLL_MS: '10',
          CONSUMER_RETRY_DELAYS_MS: '50',
          // The safety net that delivers stream events whose broadcast was lost to the outage.
          STREAM_HEARTBEAT_SECONDS: '1',
        },
      }));
      base = await app.listen({ host: '127.0.0.1', port: 0 });
      const worker = await startWorker(ctx);
      stopWorker = () => worker.stop();
      groups = ctx.consumers.map((c) => c.group);
    });
    // Runs before the harness closes the app: sockets and worker first, the topology last.
    after(async () => {
      terminateStreams();
      proxy.restore();
      await stopWorker();
      await proxy.close();
      // Only what was declared: with the broker unreachable, there is nothing to delete.
      if (groups.length > 0) await deleteAmqpTopology(AMQP!, PREFIX, groups);
    });

    /** A request as `who` that must succeed, and how long it took. */
    const call = async <T = Record<string, string>>(
      who: Account,
      method: string,
      url: string,
      payload?: object,
    ) => {
      const started = performance.now();
      const res = await app.inject({
        method: method as 'GET',
        url: `/api/v1${url}`,
        headers: who.auth,
        ...(payload && { payload }),
      });
      assert.ok(res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
      return { json: res.json<T>(), ms: performance.now() - started };
    };

    it('delivers every post, notification and message exactly once after it returns', async () => {
      const make = (n: number) => Promise.all(Array.from({ length: n }, () => createAccount(app)));
      const [authors, followers, [newcomer]] = [await make(3), await make(4), await make(1)];
      for (const f of followers) {
        for (const a of authors) await call(f, 'POST', `/users/${a.username}/follow`);
        await call(f, 'GET', '/feed'); // builds the follower's timeline, so fan-out fills it
      }
      const conversations: string[] = [];
      for (const f of followers)
        conversations.push(
          (await call(f, 'POST', '/conversations', { username: authors[0]!.username })).json.id!,
        );
      await drain(ctx);
      for (const user of [...authors, ...followers, newcomer!])
        streams.push(await subscribe(base, user));
      const streamOf = (user: Account) =>
        streams[[...authors, ...followers, newcomer].indexOf(user)]!;

      const latencies: number[] = [];
      const write = async <T = Record<string, string>>(...args: Parameters<typeof call>) => {
        const { json, ms } = await call<T>(...args);
        latencies.push(ms);
        return json;
      };
      const posts: { id: string; author: Account }[] = [];
      const postRound = async (round: number) => {
        for (const author of authors) {
          const { id } = await write(author, 'POST', '/posts', { text: `post ${round}` });
          posts.push({ id: id!, author });
        }
      };
      // The outage begins while the first posts are on their way (relayed, fanned out): the
      // proxy drops every connection and refuses new ones.
      await postRound(0);
      const cutAt = performance.now();
      proxy.cut();
      await postRound(1);
      await postRound(2);
      // Direct messages go out at the same time (awaited with the rest, after the cut).
      const sends = followers.map((f, i) =>
        call<{ id: string }>(f, 'POST', `/conversations/${conversations[i]}/messages`, {
          text: `hi ${i}`,
        }),
      );
      for (const [i, f] of followers.entries()) {
        await write(f, 'POST', `/posts/${posts[i]!.id}/like`);
        await write(f, 'POST', `/posts/${posts[i + 4]!.id}/comments`, {
          text: `from ${f.username}`,
        });
      }
      for (const a of authors) await write(newcomer!, 'POST', `/users/${a.username}/follow`);
      assert.ok(
        Math.max(...latencies) < WRITE_BOUND_MS,
        `writes answered within ${WRITE_BOUND_MS} ms: ${latencies.map(Math.round).join(', ')}`,
      );
      const pending = (await ctx.relay.backlog()).count;
      assert.ok(pending >= 6 + 4 + 4 + 3, `what was written since the cut waits: ${pending}`);
      await waitFor(
        () => performance.now() - cutAt >= OUTAGE_MS,
        'the outage to last',
        OUTAGE_MS + 1_000,
      );
      proxy.restore();

      // What each user must get, by stream event.
      const expected = new Map<Account, string[]>();
      const expect = (user: Account, key: string) =>
        expected.set(user, [...(expected.get(user) ?? []), key]);
      for (const f of followers) for (const p of posts) expect(f, `feed.post ${p.id}`);
      for (const [i, f] of followers.entries()) {
        expect(posts[i]!.author, `notification like ${f.id} ${posts[i]!.id}`);
        expect(posts[i + 4]!.author, `notification comment ${f.id} ${posts[i + 4]!.id}`);
      }
      for (const a of authors) expect(a, `notification follow ${newcomer!.id} null`);
      const messages = (await Promise.all(sends)).map((sent) => sent.json.id);
      for (const [i, f] of followers.entries()) {
        expect(f, `message ${messages[i]}`);
        expect(authors[0]!, `message ${messages[i]}`);
      }

      await drain(ctx, 60_000);
      for (const [user, keys] of expected) {
        const s = streamOf(user);
        const received = await waitFor(
          () => s.events.length - 1 >= keys.length && s.events.slice(1),
          `${keys.length} events on ${user.username}'s stream`,
          30_000,
        );
        assert.deepEqual(
          received.map((e) => e.seq),
          keys.map((_, i) => s.from + 1 + i),
          `${user.username}: seqs follow on, none repeated`,
        );
        assert.deepEqual(received.map(keyOf).sort(), [...keys].sort(), `${user.username}'s events`);
        // Everything handled (drained): the log holds these and nothing more.
        const logged = await ctx.database.db
          .selectFrom('stream_events')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', user.id)
          .where('seq', '>', s.from)
          .executeTakeFirstOrThrow();
        assert.equal(Number(logged.n), keys.length, `${user.username}'s stream log`);
      }
      assert.equal(streamOf(newcomer!).events.length, 1, 'the newcomer got nothing but ready');

      // The lists agree: notifications once each, every post once in every follower's feed.
      for (const a of authors) {
        const { json } = await call<{
          items: { type: string; actors: { id: string }[]; post_id: string | null }[];
        }>(a, 'GET', '/notifications?limit=100');
        const mine = (expected.get(a) ?? []).filter((k) => k.startsWith('notification '));
        const listed = json.items
          .map((n) => `notification ${n.type} ${n.actors.map((u) => u.id).join()} ${n.post_id}`)
          .filter((k) => !k.startsWith('notification follow ') || k.includes(newcomer!.id));
        assert.deepEqual(listed.sort(), mine.sort(), `${a.username}'s notifications`);
      }
      for (const f of followers) {
        const { json } = await call<{ items: { id: string }[] }>(f, 'GET', '/feed?limit=100');
        assert.deepEqual(
          json.items.map((p) => p.id).sort(),
          posts.map((p) => p.id).sort(),
          `${f.username}'s feed`,
        );
      }
    });

    it('a direct message sent while the broker is cut answers at once', async () => {
      const [a, b] = [await createAccount(app), await createAccount(app)];
      const conversation = await call(a, 'POST', '/conversations', { username: b.username });
      proxy.cut();
      try {
        const path = `/conversations/${conversation.json.id}/messages`;
        const { ms } = await call(a, 'POST', path, { text: 'are you there?' });
        assert.ok(ms < WRITE_BOUND_MS, `answered in ${Math.round(ms)} ms`);
      } finally {
        proxy.restore();
      }
    });
  },
);
