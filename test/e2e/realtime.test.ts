/**
 * Real-time notifications end to end: a real server (WebSocket and SSE clients), the worker in
 * process, and the stream log behind resume, resync and token expiry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse as Res } from 'fastify';
import WebSocket from 'ws';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import { AccessTokens } from '../../src/modules/accounts/access-tokens.ts';
import { StreamLog } from '../../src/modules/realtime/stream-log.repository.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import type { RunningRole } from '../../src/app/roles/api.ts';
import { drain } from '../support/drain.ts';
import { createAccount, type Account } from '../support/factories.ts';
import { createTestApp, TEST_JWT_SECRET } from '../support/harness.ts';
import { amqpUrl, deleteAmqpTopology, redisUrl, testPrefix } from '../support/services.ts';

type Ev = {
  seq: number;
  type: string;
  data: Partial<Note> & { text?: string; [k: string]: unknown };
};
type Note = {
  id: string;
  type: string;
  actors: { id: string; username: string }[];
  actor_count: number;
  post_id: string | null;
  comment_id: string | null;
  request_id: string | null;
  read: boolean;
};
type Sse = { id?: string; event?: string; data?: Ev; retry?: string; comment?: string };

type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;

/** Items that arrive over time; `until` resolves as soon as a probe of them is truthy. */
class Inbox<T> {
  readonly items: T[] = [];
  readonly #wakers = new Set<() => void>();
  add(item: T): void {
    this.items.push(item);
    for (const wake of [...this.#wakers]) wake();
  }
  until<R>(probe: (items: T[]) => R, what: string, ms = 10_000): Promise<Truthy<R>> {
    return new Promise((resolve, reject) => {
      const done = () => (clearTimeout(timer), this.#wakers.delete(check));
      const check = () => {
        const value = probe(this.items);
        if (value) {
          done();
          resolve(value as Truthy<R>);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${ms} ms: ${what}; got ${JSON.stringify(this.items)}`));
      }, ms);
      this.#wakers.add(check);
      check();
    });
  }
}

const services = (name: string) => ({
  OUTBOX_POLL_MS: '10',
  CONSUMER_RETRY_DELAYS_MS: '20',
  CONSUMER_MAX_ATTEMPTS: '3',
  ...(redisUrl() && { REDIS_URL: redisUrl()!, REDIS_PREFIX: `${testPrefix}:${name}:` }),
  ...(amqpUrl() && { AMQP_URL: amqpUrl()!, AMQP_PREFIX: `${testPrefix}.${name}` }),
});
const topologies: { prefix: string; groups: string[] }[] = [];
const sockets = new Set<WebSocket>();
const streams = new Set<AbortController>();
/** Runs after the harness closed the apps (it registered its `after` first). */
after(async () => {
  const url = amqpUrl();
  for (const { prefix, groups } of topologies)
    if (url) await deleteAmqpTopology(url, prefix, groups);
});

/** A server for the tests: the app listening on a real port. */
async function serve(name: string, env: Record<string, string> = {}) {
  const { app, ctx } = await createTestApp({ env: { ...services(name), ...env } });
  const groups = ctx.consumers.map((c) => c.group);
  if (amqpUrl()) topologies.push({ prefix: ctx.config.amqpPrefix, groups });
  const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
  return { app, ctx, base };
}

let app: App;
let ctx: Context;
let base: string;
let worker: RunningRole;
const call = (method: string, url: string, who?: Account, payload?: object) =>
  app.inject({
    method: method as 'GET',
    url: `/api/v1${url}`,
    headers: who?.auth ?? {},
    ...(payload && { payload }),
  });
type Scalar = string | number | boolean | null;
async function ok<T = Record<string, Scalar>>(res: Promise<Res>, status = 200): Promise<T> {
  const r = await res;
  assert.equal(r.statusCode, status, r.body);
  return r.json<T>();
}
type Accounts<N extends number, R extends Account[] = []> = R['length'] extends N
  ? R
  : Accounts<N, [...R, Account]>;
const users = <N extends number>(n: N) =>
  Promise.all(Array.from({ length: n }, () => createAccount(app))) as Promise<Accounts<N>>;
const seqOf = async (user: Account, c = ctx) =>
  Number(
    (
      await c.database.db
        .selectFrom('users')
        .select('stream_seq')
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow()
    ).stream_seq,
  );
const streamUrl = (b: string, path: string, query: Record<string, string | number | undefined>) => {
  const url = new URL(`/api/v1${path}`, b);
  for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, `${v}`);
  return url.toString();
};

type Stream = {
  events: Inbox<Ev>;
  from: number;
  socket: WebSocket;
  closed: Promise<[number, string]>;
};
/**
 * A WebSocket of `user`. Unless `since` is given (null: none), it resumes from the user's newest
 * seq, so every later event reaches it however quickly the test acts.
 */
async function connect(
  user: Account,
  opts: { since?: number | null; b?: string; c?: Context; token?: string; autoPong?: false } = {},
) {
  const since = opts.since === undefined ? await seqOf(user, opts.c) : opts.since;
  const query = { since: since ?? undefined, access_token: opts.token };
  const url = streamUrl(opts.b ?? base, '/stream', query);
  const headers = opts.token ? {} : user.auth;
  const socket = new WebSocket(url, { headers, autoPong: opts.autoPong ?? true });
  sockets.add(socket);
  const events = new Inbox<Ev>();
  socket.on('message', (raw: Buffer) => events.add(JSON.parse(raw.toString()) as Ev));
  const closed = new Promise<[number, string]>((resolve) =>
    socket.on('close', (code, reason) => resolve([code, reason.toString()])),
  );
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return { events, from: since ?? 0, socket, closed } satisfies Stream;
}
const close = async (s: Stream) => (s.socket.close(), await s.closed);

/** Waits for the first notification of this type (and actor) pushed to the stream. */
const pushed = (s: Stream, type: string, actor?: Account) =>
  s.events
    .until(
      (evs) =>
        evs.find(
          (e) =>
            e.type === 'notification' &&
            e.data.type === type &&
            (!actor || e.data.actors?.[0]?.id === actor.id),
        ),
      `${type} notification`,
    )
    .then((e) => e.data as Note);
/** Once the worker handled everything and the stream caught up with the log: all it will get. */
async function settled(s: Stream, user: Account): Promise<Ev[]> {
  await drain(ctx);
  const last = await seqOf(user);
  await s.events.until((evs) => (evs.at(-1)?.seq ?? s.from) >= last, `seq ${last}`);
  return s.events.items;
}
const notes = async (user: Account, query = '') =>
  (await ok<{ items: Note[] }>(call('GET', `/notifications${query}`, user))).items;
/** The types of the notifications among the events (feed events left out). */
const kinds = (evs: Ev[]) =>
  evs.flatMap((e) =>
    e.type === 'notification'
      ? [e.data.type as string]
      : e.type.startsWith('feed.') || e.type === 'ready'
        ? []
        : [e.type],
  );
const post = (author: Account, text: string, visibility = 'public') =>
  ok<{ id: string }>(call('POST', '/posts', author, { text, visibility }), 201);

// One server and worker for the file; the hooks of a describe run before the harness closes it.
describe('real-time', () => {
  before(async () => {
    ({ app, ctx, base } = await serve('rt'));
    worker = await startWorker(ctx);
  });
  after(async () => {
    for (const socket of sockets) socket.terminate();
    for (const stream of streams) stream.abort();
    await worker.stop();
  });

  describe('the seed flow', () => {
    it('B, holding a WebSocket, is told of A’s friend request; A is told B accepted', async () => {
      const [a, b] = await users(2);
      const [aStream, bStream] = [
        await connect(a, { since: null }),
        await connect(b, { since: null }),
      ];
      // Connected without `since`: first a `ready` event with where the stream starts.
      for (const [s, who] of [
        [aStream, a],
        [bStream, b],
      ] as const) {
        await s.events.until((evs) => evs.length > 0, 'ready');
        assert.deepEqual(s.events.items[0], { seq: await seqOf(who), type: 'ready', data: {} });
      }
      const sent = await ok(call('POST', `/users/${b.username}/friend-request`, a), 201);
      const request = await pushed(bStream, 'friend_request');
      assert.deepEqual(
        [request.actors.map((u) => u.id), request.actor_count, request.request_id, request.read],
        [[a.id], 1, sent.id, false],
      );
      await ok(call('POST', `/friend-requests/${sent.id}/accept`, b));
      const accepted = await pushed(aStream, 'friend_accepted');
      assert.deepEqual([accepted.actors.map((u) => u.id), accepted.request_id], [[b.id], sent.id]);
      // Accepting made them follow each other: friends get no `follow` notification for that.
      assert.deepEqual(kinds(await settled(aStream, a)), ['friend_accepted']);
      assert.deepEqual(kinds(await settled(bStream, b)), ['friend_request']);
      assert.deepEqual(await notes(a), [{ ...accepted }]);
      assert.deepEqual(await notes(b), [{ ...request }]);
    });
  });

  describe('notifications, stored and pushed', () => {
    it('follow: to the followee, from non-friends', async () => {
      const [a, c] = await users(2);
      const s = await connect(a);
      await ok(call('POST', `/users/${a.username}/follow`, c));
      const note = await pushed(s, 'follow', c);
      assert.deepEqual([note.post_id, note.actor_count], [null, 1]);
      assert.deepEqual(await notes(a, '?type=follow'), [note]);
      assert.deepEqual(await notes(a, '?type=like'), []);
    });

    it('likes of one post are one notification: newest 5 actors first and the count of all', async () => {
      const [a, ...likers] = await users(7);
      const s = await connect(a);
      const { id } = await post(a, 'like me');
      await ok(call('POST', `/posts/${id}/like`, a)); // your own like notifies nobody
      for (const [i, liker] of likers.entries()) {
        await ok(call('POST', `/posts/${id}/like`, liker));
        const note = await pushed(s, 'like', liker);
        assert.equal(note.actor_count, i + 1);
      }
      const [stored, ...rest] = await notes(a);
      assert.deepEqual(rest, []);
      assert.deepEqual(
        [stored!.post_id, stored!.actor_count, stored!.actors.map((u) => u.id)],
        [
          id,
          6,
          likers
            .slice(1)
            .reverse()
            .map((u) => u.id),
        ],
        '"<newest> and 5 others", newest first',
      );
      const pushes = (await settled(s, a)).filter((e) => e.data.type === 'like');
      assert.deepEqual(
        new Set(pushes.map((e) => e.data.id)),
        new Set([stored!.id]),
        'one notification',
      );
      assert.equal(pushes.length, 6);
      // Liking again after unliking adds no one; a new liker makes a read notification unread.
      await ok(call('POST', '/notifications/read', a, { all: true }));
      await ok(call('DELETE', `/posts/${id}/like`, likers[0]));
      await ok(call('POST', `/posts/${id}/like`, likers[0]));
      assert.equal((await settled(s, a)).length, 6);
      const [late] = await users(1);
      await ok(call('POST', `/posts/${id}/like`, late));
      const again = await s.events.until((evs) => evs[6]?.data as Note | undefined, 'a 7th like');
      assert.deepEqual(
        [again.id, again.actor_count, again.actors[0]!.id, again.read],
        [stored!.id, 7, late.id, false],
      );
      assert.equal((await ok(call('GET', '/notifications/unread-count', a))).count, 1);
    });

    it('likes at the same moment: one notification, each push counting one more', async () => {
      const [a, ...likers] = await users(6);
      const s = await connect(a);
      const { id } = await post(a, 'everyone at once');
      await Promise.all(likers.map((u) => ok(call('POST', `/posts/${id}/like`, u))));
      const pushes = (await settled(s, a)).map((e) => e.data as Note);
      assert.deepEqual(
        pushes.map((n) => n.actor_count),
        [1, 2, 3, 4, 5],
      );
      const [stored, ...rest] = await notes(a);
      assert.deepEqual([rest, stored!.actor_count, stored!.id], [[], 5, pushes[0]!.id]);
      assert.deepEqual(new Set(stored!.actors.map((u) => u.id)), new Set(likers.map((u) => u.id)));
      assert.deepEqual(stored, pushes[4], 'the last push is the stored notification');
    });

    it('comments notify the post author; @mentions notify those who may see the post', async () => {
      const [a, b, c, d] = await users(4);
      await ok(call('POST', `/users/${a.username}/follow`, d));
      await drain(ctx); // a's `follow` notification is in before a connects
      const [sa, sb, sc, sd] = [
        await connect(a),
        await connect(b),
        await connect(c),
        await connect(d),
      ];
      const open = await post(a, `hi @${b.username} @${a.username} @nosuchuser_zz`);
      const mention = await pushed(sb, 'mention', a);
      assert.deepEqual([mention.post_id, mention.comment_id], [open.id, null]);
      const hidden = await post(a, `followers only @${c.username} @${d.username}`, 'followers');
      assert.equal((await pushed(sd, 'mention', a)).post_id, hidden.id, 'd follows a');
      const comment = await ok(
        call('POST', `/posts/${open.id}/comments`, c, { text: `@${a.username} cc @${d.username}` }),
        201,
      );
      const onPost = await pushed(sa, 'comment', c);
      assert.deepEqual([onPost.post_id, onPost.comment_id], [open.id, comment.id]);
      const inComment = await pushed(sd, 'mention', c);
      assert.deepEqual([inComment.post_id, inComment.comment_id], [open.id, comment.id]);
      await ok(call('POST', `/posts/${open.id}/comments`, a, { text: `mine @${a.username}` }), 201);

      assert.deepEqual(
        kinds(await settled(sa, a)),
        ['comment'],
        'no mention of the author by c; none of own',
      );
      assert.deepEqual(kinds(await settled(sb, b)), ['mention']);
      assert.deepEqual(kinds(await settled(sc, c)), [], 'c may not see the followers-only post');
      assert.deepEqual(kinds(await settled(sd, d)), ['mention', 'mention']);
      for (const [user, s] of [
        [a, sa],
        [b, sb],
        [c, sc],
        [d, sd],
      ] as const)
        assert.deepEqual(
          (await notes(user)).filter((n) => n.type !== 'follow'),
          s.events.items
            .filter((e) => e.type === 'notification')
            .map((e) => e.data)
            .reverse(),
        );
    });

    it('none from muted users, nor from a block either way (even for events already in flight)', async () => {
      const [a, muted, blocked, blocker] = await users(4);
      await ok(call('POST', `/users/${muted.username}/mute`, a));
      const s = await connect(a);
      const { id } = await post(a, 'watch this');
      await worker.stop(); // the events below wait in the outbox until the blocks are in place
      for (const actor of [muted, blocked, blocker]) {
        await ok(call('POST', `/users/${a.username}/follow`, actor));
        await ok(call('POST', `/posts/${id}/like`, actor));
        await ok(call('POST', `/posts/${id}/comments`, actor, { text: `hey @${a.username}` }), 201);
      }
      await ok(call('POST', `/users/${muted.username}/friend-request`, a), 201);
      const req = await ok(call('POST', `/users/${a.username}/friend-request`, muted), 200);
      assert.equal(req.status, 'accepted');
      await ok(call('POST', `/users/${blocked.username}/block`, a));
      await ok(call('POST', `/users/${a.username}/block`, blocker));
      worker = await startWorker(ctx);
      assert.deepEqual(kinds(await settled(s, a)), []);
      assert.deepEqual(await notes(a), []);
      const [other] = await users(1);
      await ok(call('POST', `/users/${a.username}/follow`, other));
      assert.equal(
        (await pushed(s, 'follow', other)).actors[0]!.id,
        other.id,
        'others still notify',
      );
    });

    it('a like whose post is deleted before the worker handles it notifies nobody', async () => {
      const [a, b] = await users(2);
      const s = await connect(a);
      const { id } = await post(a, 'short-lived');
      await drain(ctx);
      await worker.stop();
      await ok(call('POST', `/posts/${id}/like`, b));
      assert.equal((await call('DELETE', `/posts/${id}`, a)).statusCode, 204);
      worker = await startWorker(ctx);
      await drain(ctx);
      const dead = (await ctx.bus.deadLetters('notifications')).filter(
        (e) => (e.data as { post_id?: string }).post_id === id,
      );
      assert.deepEqual(dead, [], 'handled, not dead-lettered');
      assert.deepEqual(kinds(await settled(s, a)), []);
      assert.deepEqual(await notes(a), []);
    });

    it('lists newest activity first, page by page, and by type', async () => {
      const [a, ...fans] = await users(5);
      const { id } = await post(a, 'old news');
      await ok(call('POST', `/posts/${id}/like`, fans[0]));
      await drain(ctx);
      for (const fan of fans) {
        await ok(call('POST', `/users/${a.username}/follow`, fan));
        await drain(ctx); // one at a time: the consumer may handle events concurrently
      }
      await ok(call('POST', `/posts/${id}/like`, fans[1])); // the like moves up again
      await drain(ctx);
      const all = await notes(a);
      assert.deepEqual(
        all.map((n) => [n.type, n.actors[0]!.id]),
        [['like', fans[1].id], ...[...fans].reverse().map((f) => ['follow', f.id])],
      );
      for (const limit of [1, 2, 4]) {
        const paged: Note[] = [];
        let cursor: string | null = null;
        do {
          const q: string = `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
          const page: { items: Note[]; next_cursor: string | null } = await ok(
            call('GET', `/notifications${q}`, a),
          );
          paged.push(...page.items);
          cursor = page.next_cursor;
        } while (cursor);
        assert.deepEqual(paged, all, `limit ${limit}`);
      }
      assert.deepEqual(await notes(a, '?type=follow'), all.slice(1));
      assert.equal((await call('GET', '/notifications?type=poke', a)).statusCode, 400);
      assert.equal(
        (await call('GET', '/notifications?cursor=nope', a)).json().code,
        'invalid_cursor',
      );
    });

    it('unread count; mark read by ids or all; others’ ids change nothing; neither or both: 400', async () => {
      const [a, x, y, z] = await users(4);
      for (const u of [x, y, z]) await ok(call('POST', `/users/${a.username}/follow`, u));
      await ok(call('POST', `/users/${x.username}/follow`, y));
      await drain(ctx);
      const unread = async (u: Account) =>
        (await ok(call('GET', '/notifications/unread-count', u))).count;
      assert.deepEqual([await unread(a), await unread(x)], [3, 1]);
      const [newest, middle] = await notes(a);
      const [ofX] = await notes(x);
      const read = (u: Account, body: object) => call('POST', '/notifications/read', u, body);
      assert.deepEqual(await ok(read(a, { ids: [newest!.id, ofX!.id] })), { marked: 1, unread: 2 });
      assert.deepEqual([await unread(x), (await notes(x))[0]!.read], [1, false], 'x’s untouched');
      assert.deepEqual(await ok(read(a, { ids: [newest!.id] })), { marked: 0, unread: 2 });
      assert.deepEqual(
        (await notes(a)).map((n) => n.read),
        [true, false, false],
      );
      assert.equal(middle!.read, false);
      for (const body of [{}, { all: false }, { ids: [middle!.id], all: true }, { ids: [] }]) {
        const res = await read(a, body);
        assert.equal(res.statusCode, 400, JSON.stringify(body));
        assert.equal(res.json().code, 'validation_failed');
      }
      assert.deepEqual(await ok(read(a, { all: true })), { marked: 2, unread: 0 });
      assert.deepEqual([await unread(a), await unread(x)], [0, 1]);
    });
  });

  /** A conversation from `from` to `to`; the function sends `from`'s messages in it. */
  async function dm(from: Account, to: Account) {
    const { id } = await ok(call('POST', '/conversations', from, { username: to.username }), 201);
    return (text: string) => ok(call('POST', `/conversations/${id}/messages`, from, { text }), 201);
  }
  const said = (evs: Ev[]) => evs.map((e) => (e.type === 'message' ? e.data.text : kinds([e])[0]));
  const logOf = async (user: Account, after = 0) =>
    (
      await ctx.database.db
        .selectFrom('stream_events')
        .select(['seq', 'type', 'data'])
        .where('user_id', '=', user.id)
        .where('seq', '>', after)
        .orderBy('seq')
        .execute()
    ).map((r) => ({ seq: Number(r.seq), type: r.type, data: r.data }));
  const purge = (user: Account, upTo: number) =>
    ctx.database.db
      .deleteFrom('stream_events')
      .where('user_id', '=', user.id)
      .where('seq', '<=', upTo)
      .execute();
  const count = (s: Stream, n: number) =>
    s.events.until((evs) => evs.length >= n && evs, `${n} events`);

  describe('resume', () => {
    it('?since=<last seq> gets exactly the missed events in order, then live ones; since=0 all', async () => {
      const [a, b, c] = await users(3);
      const say = await dm(a, b);
      const first = await connect(b);
      await say('one');
      const [one] = await count(first, 1);
      await close(first);
      await say('two');
      await ok(call('POST', `/users/${b.username}/follow`, c));
      await drain(ctx);
      await say('three');
      const again = await connect(b, { since: one!.seq });
      await say('four');
      const evs = await count(again, 4);
      assert.deepEqual(said(evs), ['two', 'follow', 'three', 'four']);
      assert.deepEqual(evs, await logOf(b, one!.seq), 'the logged events, seq after seq');
      assert.deepEqual(
        evs.map((e) => e.seq),
        [1, 2, 3, 4].map((n) => one!.seq + n),
      );
      const all = await connect(b, { since: 0 });
      assert.deepEqual(await settled(all, b), await logOf(b));
      assert.equal(all.events.items[0]!.seq, 1);
      assert.deepEqual(await settled(again, b), evs, 'no duplicates');
    });

    it('two simultaneous connections of one user both get every event', async () => {
      const [a, b, c] = await users(3);
      const say = await dm(a, b);
      const [one, two] = [await connect(b), await connect(b)];
      await say('x');
      await ok(call('POST', `/users/${b.username}/follow`, c));
      await say('y');
      const evs = await settled(one, b);
      assert.equal(evs.length, 3);
      assert.deepEqual(await settled(two, b), evs);
      assert.deepEqual(new Set(said(evs)), new Set(['x', 'y', 'follow']));
    });

    it('beyond retention: `resync` with the newest seq, then new events; at the edge, no resync', async () => {
      const [a, b] = await users(2);
      const say = await dm(a, b);
      const base = await seqOf(b);
      for (const text of ['m1', 'm2', 'm3', 'm4']) await say(text);
      await purge(b, base + 2);
      const behind = await connect(b, { since: base + 1 });
      const edge = await connect(b, { since: base + 2 });
      const ahead = await connect(b, { since: base + 99 });
      await say('m5');
      const resync = { seq: base + 4, type: 'resync', data: {} };
      assert.deepEqual((await count(behind, 2)).slice(0, 1), [resync]);
      assert.deepEqual(said(await count(behind, 2)), ['resync', 'm5']);
      assert.equal(behind.events.items[1]!.seq, base + 5);
      assert.deepEqual(said(await count(edge, 3)), ['m3', 'm4', 'm5']);
      assert.deepEqual(
        (await count(ahead, 2)).map((e) => e.seq),
        [base + 4, base + 5],
      );
      assert.deepEqual(said(ahead.events.items), ['resync', 'm5']);
      // The purge the worker runs, with a cut-off that takes everything (of every user).
      await new StreamLog(ctx.database.db).purge(new Date(Date.now() + 60_000));
      const [late, current] = [await connect(b, { since: base + 4 }), await connect(b)];
      await say('m6');
      assert.deepEqual(said(await count(late, 2)), ['resync', 'm6']);
      assert.deepEqual(said(await count(current, 1)), ['m6']);
      for (const s of [behind, edge, ahead, late, current]) await settled(s, b);
      assert.deepEqual(
        [behind, edge, ahead, late, current].map((s) => s.events.items.length),
        [3, 4, 3, 2, 1],
      );
    });
  });

  /** An SSE stream read with fetch; `token` goes in the query, else the user's header is sent. */
  async function openSse(
    user: Account | null,
    opts: { since?: number; lastEventId?: string; token?: string; b?: string } = {},
  ) {
    const ac = new AbortController();
    streams.add(ac);
    const headers: Record<string, string> = { ...(user && !opts.token ? user.auth : {}) };
    if (opts.lastEventId !== undefined) headers['last-event-id'] = opts.lastEventId;
    const url = streamUrl(opts.b ?? base, '/stream/sse', {
      since: opts.since,
      access_token: opts.token,
    });
    const res = await fetch(url, { headers, signal: ac.signal });
    const events = new Inbox<Sse>();
    const parse = (block: string) => {
      const fields: Record<string, string> = {};
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) fields.comment = line.slice(1).trim();
        else fields[line.slice(0, line.indexOf(':'))] = line.slice(line.indexOf(':') + 2);
      }
      const { data, ...rest } = fields;
      events.add(data === undefined ? rest : { ...rest, data: JSON.parse(data) as Ev });
    };
    const ended = (async () => {
      if (!res.ok) return;
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for await (const chunk of res.body!) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
            parse(buffer.slice(0, i));
            buffer = buffer.slice(i + 2);
          }
        }
      } catch {
        // aborted by the test
      }
    })();
    return { res, events, ended, close: () => ac.abort() };
  }
  const sseEvents = (items: Sse[]) =>
    items.filter((e): e is Sse & { id: string; data: Ev } => e.event !== undefined);

  describe('Server-Sent Events', () => {
    it('id/event/data per event; resumes with Last-Event-ID (over ?since); resync when purged', async () => {
      const [a, b] = await users(2);
      const say = await dm(a, b);
      const base = await seqOf(b);
      const first = await openSse(b, { lastEventId: String(base) });
      assert.equal(first.res.status, 200);
      assert.match(first.res.headers.get('content-type')!, /^text\/event-stream/);
      const sent = await say('one');
      const one = await first.events.until((items) => sseEvents(items)[0], 'one');
      assert.deepEqual(first.events.items[0], { retry: '2000' });
      assert.deepEqual(
        [one.id, one.event, one.data.seq, one.data.type],
        [`${base + 1}`, 'message', base + 1, 'message'],
      );
      assert.deepEqual([one.data.data.id, one.data.data.text], [sent.id, 'one']);
      first.close();
      await say('two');
      await say('three');
      const resumed = await openSse(b, { lastEventId: `${base + 1}`, since: base + 2 });
      const byQuery = await openSse(b, { since: base + 2 });
      const texts = (items: Sse[]) => sseEvents(items).map((e) => `${e.id}:${e.data.data.text}`);
      const two = await resumed.events.until((items) => sseEvents(items).length >= 2 && items, '2');
      assert.deepEqual(texts(two), [`${base + 2}:two`, `${base + 3}:three`]);
      await byQuery.events.until((items) => sseEvents(items).length >= 1, 'three');
      assert.deepEqual(texts(byQuery.events.items), [`${base + 3}:three`]);
      await purge(b, base + 2);
      const stale = await openSse(b, { lastEventId: `${base + 1}` });
      await say('four');
      const got = await stale.events.until(
        (items) => sseEvents(items).length >= 2 && sseEvents(items),
        '2',
      );
      assert.deepEqual(got[0], {
        id: `${base + 3}`,
        event: 'resync',
        data: { seq: base + 3, type: 'resync', data: {} },
      });
      assert.deepEqual([got[1]!.id, got[1]!.data.data.text], [`${base + 4}`, 'four']);
    });
  });

  describe('safety nets', () => {
    let shutdownClose: [number, string] | undefined;
    it('a repeated or late broadcast delivers nothing twice', async () => {
      const [a, b] = await users(2);
      const say = await dm(a, b);
      const s = await connect(b);
      await say('x');
      const [x] = await count(s, 1);
      // The log moves on without a broadcast; the next broadcast then fills the gap first.
      await new StreamLog(ctx.database.db).append([{ userId: b.id, type: 'probe', data: {} }]);
      const again = { type: 'stream', data: { events: [{ ...x!, user_id: b.id }] } };
      await ctx.bus.broadcast(again); // x once more, as a redelivery would
      await say('y');
      await ctx.bus.broadcast(again);
      await say('z');
      const evs = await count(s, 4);
      assert.deepEqual(said(evs), ['x', 'probe', 'y', 'z']);
      assert.deepEqual(await settled(s, b), evs);
    });

    it('an event missing before a broadcast one is filled from the log first', async () => {
      const [a, b] = await users(2);
      const say = await dm(a, b);
      const s = await connect(b);
      // Appended but never broadcast (a lost broadcast); the next broadcast event reveals the gap.
      await new StreamLog(ctx.database.db).append([
        { userId: b.id, type: 'probe', data: { n: 1 } },
      ]);
      await say('after');
      const evs = await s.events.until((items) => items.length >= 2 && items, 'both', 5_000);
      assert.deepEqual(said(evs), ['probe', 'after']);
      assert.equal(evs[1]!.seq, evs[0]!.seq + 1);
    });

    it('the periodic check delivers a lost broadcast; the server pings and SSE gets heartbeats', async () => {
      const hb = await serve('hb', { STREAM_HEARTBEAT_SECONDS: '1' });
      const b = await createAccount(hb.app);
      const s = await connect(b, { b: hb.base, c: hb.ctx });
      const sse = await openSse(b, { b: hb.base, lastEventId: '0' });
      const pinged = new Promise((resolve) => s.socket.once('ping', resolve));
      await new StreamLog(hb.ctx.database.db).append([{ userId: b.id, type: 'probe', data: {} }]);
      assert.deepEqual(await count(s, 1), [{ seq: 1, type: 'probe', data: {} }]);
      await sse.events.until((items) => sseEvents(items).length === 1, 'probe over SSE');
      await sse.events.until((items) => items.some((e) => e.comment === 'heartbeat'), 'heartbeat');
      await pinged;
      const silent = await connect(b, { b: hb.base, c: hb.ctx, autoPong: false });
      const [code] = await silent.closed; // dropped after a ping went unanswered
      assert.equal(code, 1006);
      assert.equal(s.socket.readyState, WebSocket.OPEN, 'a client answering pings stays connected');
      // Shutting down ends open streams instead of waiting for them.
      await hb.app.close();
      shutdownClose = await s.closed;
      await sse.ended;
    });

    it('a WebSocket closed by a shutdown gets 1001 “going away”', () => {
      assert.deepEqual(shutdownClose, [1001, 'server shutting down']);
    });
  });

  /** A token of `user` that expires in `ttl` seconds (negative: already expired). */
  function tokenOf(user: Account, ttl: number): Promise<string> {
    const { sid } = JSON.parse(
      Buffer.from(user.accessToken.split('.')[1]!, 'base64url').toString(),
    );
    return new AccessTokens(TEST_JWT_SECRET, ttl).sign({ userId: user.id, sessionId: sid });
  }

  describe('token expiry', () => {
    const expiry = { timeout: 15_000 };
    it(
      'closes the WebSocket with 4001 token_expired; SSE ends after an error event',
      expiry,
      async () => {
        const [b] = await users(1);
        const token = await tokenOf(b, 3);
        const [ws, sse] = await Promise.all([connect(b, { token }), openSse(null, { token })]);
        assert.equal(sse.res.status, 200);
        const started = Date.now();
        assert.deepEqual(await ws.closed, [4001, 'token_expired']);
        await sse.ended;
        assert.ok(Date.now() - started < 5_000, 'at expiry, long before a heartbeat (30 s)');
        assert.deepEqual(sseEvents(sse.events.items), [
          { id: '0', event: 'ready', data: { seq: 0, type: 'ready', data: {} } },
          { event: 'error', data: { code: 'token_expired' } },
        ]);
      },
    );
  });

  describe('authorization', () => {
    /** The answer to a WebSocket upgrade request the server refuses. */
    const refused = (url: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; code: string; type: string }>((resolve, reject) => {
        const socket = new WebSocket(url, { headers });
        socket.once('open', () => (socket.terminate(), reject(new Error('upgraded'))));
        socket.once('error', reject);
        socket.once('unexpected-response', (req, res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => {
            req.destroy();
            const type = String(res.headers['content-type']);
            resolve({ status: res.statusCode!, code: JSON.parse(body).code, type });
          });
        });
      });
    const sse = async (url: string, headers: Record<string, string> = {}) => {
      const res = await fetch(url, { headers });
      const body = (await res.json()) as { code: string };
      return { status: res.status, code: body.code, type: res.headers.get('content-type')! };
    };

    it('no token, a bad or an expired one: 401 before the upgrade, on both routes', async () => {
      const [b] = await users(1);
      const expired = await tokenOf(b, -60);
      const cases: [Record<string, string | undefined>, Record<string, string>, string][] = [
        [{}, {}, 'unauthorized'],
        [{}, { authorization: 'Bearer not-a-token' }, 'invalid_token'],
        [{}, { authorization: 'Basic abc' }, 'invalid_token'],
        [{ access_token: 'not-a-token' }, {}, 'invalid_token'],
        [{ access_token: expired }, {}, 'token_expired'],
        [{}, { authorization: `Bearer ${expired}` }, 'token_expired'],
      ];
      for (const [query, headers, code] of cases) {
        for (const [path, ask] of [
          ['/stream', refused],
          ['/stream/sse', sse],
        ] as const) {
          const answer = await ask(streamUrl(base, path, query), headers);
          assert.deepEqual(
            { ...answer, type: answer.type.split(';')[0] },
            { status: 401, code, type: 'application/problem+json' },
            `${path} ${JSON.stringify([query, headers])}`,
          );
        }
      }
    });

    it('a token in ?access_token works for both streams, and for no other route', async () => {
      const [a, b] = await users(2);
      const ws = await connect(b, { token: b.accessToken });
      const events = await openSse(null, { token: b.accessToken, since: await seqOf(b) });
      assert.equal(events.res.status, 200);
      await ok(call('POST', `/users/${b.username}/follow`, a));
      assert.equal((await pushed(ws, 'follow', a)).actors[0]!.id, a.id);
      await events.events.until((items) => sseEvents(items)[0]?.data.data.type === 'follow', 'SSE');
      for (const since of ['-1', 'abc'])
        for (const [path, ask] of [
          ['/stream', refused],
          ['/stream/sse', sse],
        ] as const) {
          const answer = await ask(streamUrl(base, path, { since }), b.auth);
          assert.deepEqual([answer.status, answer.code], [400, 'validation_failed'], path + since);
        }
      const other = await app.inject({
        url: `/api/v1/notifications?access_token=${b.accessToken}`,
      });
      assert.equal(other.statusCode, 401);
    });
  });
});
