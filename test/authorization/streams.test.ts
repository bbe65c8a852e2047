/**
 * The authorization matrix of the real-time stream (WebSocket and Server-Sent Events), on a real
 * server: without a token the request is refused before any upgrade; with one, the stream is the
 * caller's own, whatever they are to O.
 *
 * Viewers: anonymous, an unrelated user (other), a user O blocked (B), a user who blocked O (X),
 * and the owner O. B and X talked with O before the blocks. P writes to O while a viewer listens;
 * then S sends the viewer a marker: a stream that got the marker got everything sent to it
 * before, so it must hold the marker alone.
 *
 * Then events about posts and notifications: each reaches only those who may see what it is
 * about (visibility, blocks either way), proved the same way with a marker sent last.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { API_PREFIX as API } from '../../src/http/types.ts';
import { assertAreaCovered } from '../support/authorization-scope.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';
import { createTestAppWithWorker } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';
import { drain } from '../support/drain.ts';

// PGlite runs on this thread: its queries must not read as overload.
const { app, ctx, worker } = await createTestAppWithWorker('authz', {
  env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '0' },
});
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');

const VIEWERS = ['anon', 'other', 'B', 'X', 'O'] as const;
type Viewer = (typeof VIEWERS)[number];
type Body = Record<string, unknown>;

function call(
  as: Account | null,
  method: 'GET' | 'POST' | 'DELETE',
  path: string,
  body?: object,
  headers = {},
) {
  return app.inject({
    method,
    url: API + path,
    headers: { ...as?.auth, ...headers },
    ...(body ? { payload: body } : {}),
  });
}
async function must(as: Account, path: string, status: number, body: object) {
  const res = await call(as, 'POST', path, body);
  assert.equal(res.statusCode, status, `setup: POST ${path}: ${res.body}`);
  return res.json<Body>();
}

// ---------------------------------------------------------------------------------------------
// Fixtures

const account = (name: string) => createAccount(app, { username: uniqueUsername(name) });
/** The conversation of `from` with `to`, started if needed. */
async function conversation(from: Account, to: Account): Promise<string> {
  const res = await call(from, 'POST', '/conversations', { username: to.username });
  assert.ok([200, 201].includes(res.statusCode), res.body);
  return res.json<Body>().id as string;
}
const say = async (from: Account, id: string, text: string) =>
  (await must(from, `/conversations/${id}/messages`, 201, { text })).id as string;
const block = (blocker: Account, blocked: Account) =>
  must(blocker, `/users/${blocked.username}/block`, 200, {});

const O = await account('owner');
const users: Record<Exclude<Viewer, 'anon'>, Account> = {
  O,
  other: await account('other'),
  B: await account('b'),
  X: await account('x'),
};
const [P, S] = [await account('p'), await account('s')];
await say(users.B, await conversation(users.B, O), 'b1');
await say(O, await conversation(users.X, O), 'x1');
await block(O, users.B);
await block(users.X, O);
const withP = await conversation(O, P);
/** S's marker to `to`. */
const marker = async (to: Account, text: string) => say(S, await conversation(S, to), text);

// ---------------------------------------------------------------------------------------------
// Stream clients

type Ev = { seq: number; type: string; data: Body };
type Truthy<T> = Exclude<T, false | 0 | '' | null | undefined>;
/** Events as they arrive; `until` resolves as soon as a probe of them is truthy. */
class Inbox {
  readonly items: Ev[] = [];
  readonly #wakers = new Set<() => void>();
  add(item: Ev): void {
    this.items.push(item);
    for (const wake of [...this.#wakers]) wake();
  }
  until<R>(probe: (items: Ev[]) => R, what: string, ms = 10_000): Promise<Truthy<R>> {
    return new Promise((resolve, reject) => {
      const done = () => (clearTimeout(timer), this.#wakers.delete(check));
      const check = () => {
        const value = probe(this.items);
        if (!value) return;
        done();
        resolve(value as Truthy<R>);
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

type Kind = 'ws' | 'sse';
const closers = new Set<() => void>();
const streamUrl = (kind: Kind) =>
  kind === 'ws' ? `${base.replace(/^http/, 'ws')}${API}/stream` : `${base}${API}/stream/sse`;

/** `me`'s stream, once its `ready` event arrived (what comes after happened after it). */
async function openStream(kind: Kind, me: Account): Promise<Inbox> {
  const events = new Inbox();
  if (kind === 'ws') {
    const socket = new WebSocket(streamUrl(kind), { headers: me.auth });
    closers.add(() => socket.terminate());
    socket.on('message', (raw: Buffer) => events.add(JSON.parse(raw.toString()) as Ev));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  } else {
    const abort = new AbortController();
    closers.add(() => abort.abort());
    const res = await fetch(streamUrl(kind), { headers: me.auth, signal: abort.signal });
    assert.equal(res.status, 200);
    const read = async () => {
      let buffer = '';
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const data = buffer
            .slice(0, end)
            .split('\n')
            .find((l) => l.startsWith('data: '));
          if (data) events.add(JSON.parse(data.slice('data: '.length)) as Ev);
          buffer = buffer.slice(end + 2);
        }
      }
    };
    read().catch(() => {}); // ends when the test aborts it
  }
  await events.until((evs) => evs[0]?.type === 'ready', `${me.username}'s ${kind} stream ready`);
  return events;
}
/** The (type, id) of every event after `ready`. */
const seen = (events: Inbox) => events.items.slice(1).map((e) => [e.type, e.data.id]);
const has = (id: string) => (evs: Ev[]) => evs.some((e) => e.data.id === id);

// ---------------------------------------------------------------------------------------------
// The cells

async function anonymous(kind: Kind): Promise<void> {
  const upgrade = {
    connection: 'upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  };
  const path = kind === 'ws' ? '/stream' : '/stream/sse';
  const res = await call(null, 'GET', path, undefined, kind === 'ws' ? upgrade : {});
  assertProblem(res, 401, 'unauthorized');
  // On the wire too: the handshake is answered 401, never upgraded.
  if (kind === 'sse') return assert.equal((await fetch(streamUrl(kind))).status, 401);
  const status = await new Promise<number>((resolve, reject) => {
    const socket = new WebSocket(streamUrl(kind));
    socket.on('unexpected-response', (req, r) => (resolve(r.statusCode ?? 0), req.destroy()));
    socket.on('open', () => reject(new Error('upgraded without a token')));
    socket.on('error', () => {}); // the aborted handshake
  });
  assert.equal(status, 401);
}

/** P writes to O: O's stream gets it; another viewer's stream gets only what was sent to them. */
async function ownEventsOnly(kind: Kind, who: Exclude<Viewer, 'anon'>): Promise<void> {
  const me = users[who];
  const mine = await openStream(kind, me);
  const ofO = who === 'O' ? mine : await openStream(kind, O);
  const sent = await say(P, withP, `to O over ${kind} while ${who} listens`);
  await ofO.until(has(sent), 'O hears from P');
  if (who === 'O') return assert.deepEqual(seen(mine), [['message', sent]]);
  const mark = await marker(me, `marker for ${who} over ${kind}`);
  await mine.until(has(mark), 'the marker');
  assert.deepEqual(seen(mine), [['message', mark]]);
}

const ROUTES = [
  ['ws', `GET ${API}/stream`],
  ['sse', `GET ${API}/stream/sse`],
] as const;

describe('streams: authorization matrix', () => {
  after(() => closers.forEach((close) => close()));

  for (const [kind, route] of ROUTES) {
    for (const who of VIEWERS) {
      if (who === 'anon')
        it(`anon ${route} → 401 unauthorized, not upgraded`, () => anonymous(kind));
      else it(`${who} ${route} → own events only`, () => ownEventsOnly(kind, who));
    }
  }

  it('no read receipt crosses a block, whichever side reads', async () => {
    // The reader needs a message from the listener to read (one's own are read already).
    for (const readerBlocks of [true, false]) {
      const [reader, listener] = [await account('reader'), await account('listener')];
      const id = await conversation(listener, reader);
      await say(listener, id, 'before the block');
      await (readerBlocks ? block(reader, listener) : block(listener, reader));
      const events = await openStream('ws', listener);
      // The conversation is closed across the block: nothing is read, nothing told.
      assertProblem(await call(reader, 'POST', `/conversations/${id}/read`, {}), 403, 'blocked');
      const mark = await marker(listener, 'after the read');
      await events.until(has(mark), 'the marker');
      const side = readerBlocks ? 'the blocker read' : 'the blocked user read';
      assert.deepEqual(seen(events), [['message', mark]], side);
    }
  });

  it('signed-in GET /stream without Upgrade → 426 upgrade_required', async () => {
    assertProblem(await call(O, 'GET', '/stream'), 426, 'upgrade_required');
  });

  // Mastodon's streaming API: who gets what is in src/modules/mastodon/streaming.test.ts
  // (own events only, muted authors, suspension); here, nothing opens without a token.
  const MASTODON = [
    '/streaming',
    '/streaming/user',
    '/streaming/user/notification',
    '/streaming/direct',
  ];
  it('anon GET /api/v1/streaming, …/user, …/user/notification, …/direct → 401, not upgraded', async () => {
    for (const path of MASTODON) {
      const res = await fetch(`${base}${API}${path}`);
      assert.equal(res.status, 401, path);
      assert.equal(((await res.json()) as { error: string }).error, 'The access token is invalid');
    }
    const status = await new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${base.replace(/^http/, 'ws')}${API}/streaming?stream=user`);
      socket.on('unexpected-response', (req, r) => (resolve(r.statusCode ?? 0), req.destroy()));
      socket.on('open', () => reject(new Error('upgraded without a token')));
      socket.on('error', () => {});
    });
    assert.equal(status, 401);
  });

  it('anon GET /api/v1/streaming/health → OK (no user data)', async () => {
    assert.equal(await (await fetch(`${base}${API}/streaming/health`)).text(), 'OK');
  });

  it('covers every stream route', () => {
    const mastodon = [...MASTODON, '/streaming/health'].map((path) => `GET ${API}${path}`);
    assertAreaCovered(app, 'streams', new Set([...ROUTES.map(([, route]) => route), ...mastodon]));
  });
});

// ---------------------------------------------------------------------------------------------
// Events about posts, and notifications

const post = async (author: Account, visibility: string, text = `a ${visibility} post`) =>
  (await must(author, '/posts', 201, { text, visibility })).id as string;
/** Friends by request and acceptance (friends follow each other). */
async function befriend(a: Account, b: Account): Promise<void> {
  const request = await must(a, `/users/${b.username}/friend-request`, 201, {});
  await must(b, `/friend-requests/${request.id as string}/accept`, 200, {});
}
/** The post events of a stream after `ready`: [type, post id]. */
const postEvents = (events: Inbox) =>
  events.items
    .filter((e) => e.type === 'feed.post' || e.type === 'post.deleted')
    .map((e) => [e.type, e.data.post_id]);
const hasPost = (id: string) => (evs: Ev[]) =>
  evs.some((e) => e.type === 'feed.post' && e.data.post_id === id);

describe('streams: events about a post reach only those who may see it', () => {
  after(async () => {
    closers.forEach((close) => close());
    await worker.stop();
  });

  for (const kind of ['ws', 'sse'] as const) {
    it(`${kind}: feed.post and post.deleted of friends-only and followers-only posts reach only friends and followers`, async () => {
      const [author, friend, follower] = [
        await account('author'),
        await account('friend'),
        await account('follower'),
      ];
      await befriend(author, friend);
      await must(follower, `/users/${author.username}/follow`, 200, {});
      await drain(ctx);
      // A timeline each: the fan-out announces posts to those who read their feed lately.
      for (const reader of [friend, follower])
        assert.equal((await call(reader, 'GET', '/feed')).statusCode, 200);
      const [ofFriend, ofFollower] = [
        await openStream(kind, friend),
        await openStream(kind, follower),
      ];
      const friendsOnly = await post(author, 'friends');
      const followersOnly = await post(author, 'followers');
      await drain(ctx); // fanned out before it is deleted
      const res = await call(author, 'DELETE', `/posts/${friendsOnly}`);
      assert.equal(res.statusCode, 204, res.body);
      await drain(ctx);
      // The marker: every event before it in a stream has arrived once it has.
      const mark = await post(author, 'public', 'the marker');
      await ofFriend.until(hasPost(mark), "the marker in the friend's stream");
      await ofFollower.until(hasPost(mark), "the marker in the follower's stream");
      assert.deepEqual(postEvents(ofFriend), [
        ['feed.post', friendsOnly],
        ['feed.post', followersOnly],
        ['post.deleted', friendsOnly],
        ['feed.post', mark],
      ]);
      assert.deepEqual(
        postEvents(ofFollower),
        [
          ['feed.post', followersOnly],
          ['feed.post', mark],
        ],
        'a follower who is no friend hears nothing of a friends-only post',
      );
    });
  }

  it('a notification frame names no actor in a block with its recipient, and counts none', async () => {
    const [author, blocked, blocker, fan] = [
      await account('author'),
      await account('blocked'),
      await account('blocker'),
      await account('fan'),
    ];
    const liked = await post(author, 'public');
    for (const liker of [blocked, blocker]) await must(liker, `/posts/${liked}/like`, 200, {});
    await drain(ctx);
    await block(author, blocked);
    await block(blocker, author);
    const events = await openStream('ws', author);
    await must(fan, `/posts/${liked}/like`, 200, {});
    const frame = await events.until(
      (evs) => evs.find((e) => e.type === 'notification' && e.data.type === 'like'),
      'the like notification',
    );
    assert.deepEqual(
      (frame.data.actors as Body[]).map((a) => a.id),
      [fan.id],
    );
    assert.equal(frame.data.actor_count, 1);
  });
});
