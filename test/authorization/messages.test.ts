/**
 * The authorization matrix of direct messages and notifications: for every such route, the exact
 * answer each kind of viewer gets. Everything is set up through the API (the streams:
 * test/authorization/streams.test.ts).
 *
 * Viewers: anonymous, an unrelated user (other), a user O blocked (B), a user who blocked O (X),
 * and the owner O. O talks with P (conversation `withP`); B and X talked with O before the
 * blocks (`withB`, `withX`): there they are participants, but a block closes the conversation to
 * both sides (403 `blocked`, left out of lists). N followed O and each viewer, so each has one
 * notification of their own. Cases whose request changes state for good act as a new user
 * standing towards O as the viewer does. Last, notifications across a block: hidden while it
 * lasts, both ways, and back after an unblock.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { API_PREFIX as API } from '../../src/http/types.ts';
import { assertAreaCovered, requester } from '../support/authorization-scope.ts';
import { drain } from '../support/drain.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';
import { createTestAppWithWorker } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';

// PGlite runs on this thread: its queries must not read as overload.
const { app, ctx, worker } = await createTestAppWithWorker('authz', {
  env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '0' },
});

type Method = 'GET' | 'POST' | 'DELETE';
const VIEWERS = ['anon', 'other', 'B', 'X', 'O'] as const;
type Viewer = (typeof VIEWERS)[number];
type Who = Viewer | 'P';
type Body = Record<string, unknown> & { items?: Body[] };

const requests = requester(app);
const { call } = requests;
const must = async (...args: Parameters<typeof requests.must>) =>
  (await requests.must(...args)).json<Body>();

// ---------------------------------------------------------------------------------------------
// Fixtures

const account = (name: string) => createAccount(app, { username: uniqueUsername(name) });
const O = await account('owner');
const talk = async (from: Account, to: Account) =>
  (await must(from, 'POST', '/conversations', 201, { username: to.username })).id as string;
const say = async (from: Account, id: string, text: string) =>
  (await must(from, 'POST', `/conversations/${id}/messages`, 201, { text })).id as string;
const block = (blocker: Account, blocked: Account) =>
  must(blocker, 'POST', `/users/${blocked.username}/block`, 200);

/** A new user standing towards O as `who` does (no conversation with O). */
async function makeUser(who: Exclude<Viewer, 'anon' | 'O'>): Promise<Account> {
  const me = await account(who.toLowerCase());
  if (who === 'B') await block(O, me);
  if (who === 'X') await block(me, O);
  return me;
}
const users: Record<Exclude<Who, 'anon'>, Account> = {
  O,
  P: await account('p'),
  other: await makeUser('other'),
  B: await account('b'),
  X: await account('x'),
};
const { P, B, X } = users;
// The conversations, oldest activity first; B and X are blocked after talking with O.
const withB = await talk(B, O);
await say(B, withB, 'b1');
const withX = await talk(X, O);
await say(O, withX, 'x1');
await block(O, B);
await block(X, O);
const withP = await talk(O, P);
const p1 = await say(P, withP, 'p1');
const o1 = await say(O, withP, 'o1');

// One notification each: N follows them all.
const N = await account('n');
for (const u of [O, users.other, B, X]) await must(N, 'POST', `/users/${u.username}/follow`, 200);
await drain(ctx);
const noteOf = async (u: Account) =>
  (
    await ctx.database.db
      .selectFrom('notifications')
      .select('id')
      .where('user_id', '=', u.id)
      .executeTakeFirstOrThrow()
  ).id;
const note = Object.fromEntries(
  await Promise.all(
    (['O', 'other', 'B', 'X'] as const).map(async (w) => [w, await noteOf(users[w])]),
  ),
) as Record<Exclude<Viewer, 'anon'>, string>;

// ---------------------------------------------------------------------------------------------
// Expectations

interface Cell {
  who: Who;
  method: Method;
  /** The route as in the route table (without the API prefix). */
  route: string;
  on?: string;
  /** What the viewer gets, for the test name. */
  expect: string;
  fresh?: boolean;
  run: (me: Account | null) => Promise<void>;
}
interface Answer {
  /** The path with its params filled in (a function: built when the cell runs). */
  path: string | ((me: Account | null) => string);
  body?: (me: Account | null) => object;
  status: number;
  code?: string;
  /** More assertions on the answer and on the state afterwards. */
  check?: (body: Body, me: Account | null) => Promise<void> | void;
  headers?: Record<string, string>;
}

/** A cell that makes one request and checks the answer. */
function answer(method: Method, a: Answer): Pick<Cell, 'expect' | 'run'> {
  return {
    expect: `${a.status}${a.code ? ` ${a.code}` : ''}`,
    async run(me) {
      const path = typeof a.path === 'function' ? a.path(me) : a.path;
      const res = await call(me, method, path, a.body?.(me), a.headers);
      if (a.code) assertProblem(res, a.status, a.code);
      else assert.equal(res.statusCode, a.status, res.body);
      await a.check?.(res.body ? res.json<Body>() : {}, me);
    },
  };
}
const cells: Cell[] = [];
type Rule = (who: Viewer) => Omit<Cell, 'who' | 'method' | 'route'>;
function row(route: string, rule: Rule): void {
  const [method, url] = route.split(' ') as [Method, string];
  for (const who of VIEWERS) cells.push({ who, method, route: url, ...rule(who) });
}
const ids = (b: Body) => (b.items ?? []).map((i) => i.id);
const UNAUTHORIZED = { status: 401, code: 'unauthorized' } as const;
const HIDDEN = { status: 404, code: 'conversation_not_found' } as const;
/** The answer for anonymous callers; for O, `ok`; for the others, what a conversation that
 * does not exist answers (nothing tells them it exists). */
const participantsOnly =
  (method: Method, suffix: string, ok: Omit<Answer, 'path'>): Rule =>
  (who) => {
    const body = ok.body && { body: ok.body };
    const likeNone: Answer['check'] = async (shown, me) => {
      const path = `/conversations/${randomUUID()}${suffix}`;
      const none = (await call(me, method, path, body?.body(me))).json<Body>();
      const fields = (b: Body) => [b.type, b.title, b.status, b.detail, b.code];
      assert.deepEqual(fields(shown), fields(none));
    };
    return answer(method, {
      path: `/conversations/${withP}${suffix}`,
      ...body,
      ...(who === 'anon' ? UNAUTHORIZED : who === 'O' ? ok : { ...HIDDEN, check: likeNone }),
    });
  };

// Reads first: the writes below add conversations and messages.
row('GET /conversations', (who) =>
  answer('GET', {
    path: '/conversations',
    ...(who === 'anon'
      ? UNAUTHORIZED
      : {
          status: 200,
          check: (b) =>
            assert.deepEqual(
              ids(b),
              // Conversations across a block are closed: left out for both sides.
              { other: [], B: [], X: [], O: [withP] }[who],
            ),
        }),
  }),
);
row(
  'GET /conversations/:id',
  participantsOnly('GET', '', {
    status: 200,
    check: (b) => assert.deepEqual([b.id, (b.with as Body).id], [withP, P.id]),
  }),
);
row(
  'GET /conversations/:id/messages',
  participantsOnly('GET', '/messages', {
    status: 200,
    check: (b) => assert.deepEqual(ids(b), [o1, p1]),
  }),
);
/** P has not read O's last message: nobody's read but P's may change that. */
const unreadOfP = async () => (await must(P, 'GET', `/conversations/${withP}`, 200)).unread_count;
row('POST /conversations/:id/read', (who) => {
  const ok = { status: 200, check: (b: Body) => assert.deepEqual(b, { last_read_id: o1 }) };
  const cell = participantsOnly('POST', '/read', ok)(who);
  return { ...cell, run: async (me) => (await cell.run(me), assert.equal(await unreadOfP(), 1)) };
});
row(
  'POST /conversations/:id/messages',
  participantsOnly('POST', '/messages', {
    body: (me) => ({ text: `from ${me?.username}` }),
    status: 201,
    check: (b) => assert.deepEqual([b.conversation_id, (b.sender as Body).id], [withP, O.id]),
  }),
);
row('POST /conversations', (who) => ({
  fresh: who === 'other' || who === 'B' || who === 'X',
  ...answer('POST', {
    path: '/conversations',
    body: () => ({ username: O.username }),
    ...{
      anon: UNAUTHORIZED,
      other: { status: 201, check: (b: Body) => assert.equal((b.with as Body).id, O.id) },
      B: { status: 403, code: 'blocked' },
      X: { status: 403, code: 'blocked' },
      O: { status: 400, code: 'cannot_target_self' },
    }[who],
  }),
}));

// Mastodon's only conversation route without a kith twin (its others share kith's paths: their
// matrix is in test/authorization/mastodon.test.ts). kith cannot hide a conversation: O, a
// member, is told so (422); nobody else learns it exists ({"error"} bodies, Mastodon's).
row('DELETE /conversations/:id', (who) => ({
  expect: { anon: '401', other: '404', B: '404', X: '404', O: '422' }[who],
  async run(me) {
    const res = await call(me, 'DELETE', `/conversations/${withP}`);
    const status = { anon: 401, other: 404, B: 404, X: 404, O: 422 }[who];
    assert.equal(res.statusCode, status, res.body);
    assert.equal(typeof res.json<Body>().error, 'string');
  },
}));

// Where B and X take part: the block closes the conversation to both sides, whoever blocked.
// Its history is kept (for an unblock), but nobody may open, read, mark or add to it meanwhile.
const extra: Cell[] = [];
const BLOCKED = { status: 403, code: 'blocked' } as const;
for (const [who, id] of [
  ['B', withB],
  ['X', withX],
] as const) {
  const on = `conversation of O and ${who} from before the block`;
  for (const me of [who, 'O'] as const) {
    const cell = (method: Method, route: string, a: Answer) =>
      extra.push({ who: me, method, route, on, ...answer(method, a) });
    cell('POST', '/conversations', {
      path: '/conversations',
      body: () => ({ username: (me === 'O' ? users[who] : O).username }),
      ...BLOCKED,
    });
    cell('GET', '/conversations/:id', { path: `/conversations/${id}`, ...BLOCKED });
    cell('GET', '/conversations/:id/messages', {
      path: `/conversations/${id}/messages`,
      ...BLOCKED,
    });
    cell('POST', '/conversations/:id/read', { path: `/conversations/${id}/read`, ...BLOCKED });
    cell('POST', '/conversations/:id/messages', {
      path: `/conversations/${id}/messages`,
      body: () => ({ text: 'hello?' }),
      ...BLOCKED,
    });
  }
}

for (const [who, id] of [
  ['B', withB],
  ['X', withX],
] as const) {
  for (const me of [who, 'O'] as const)
    extra.push({
      who: me,
      method: 'DELETE',
      route: '/conversations/:id',
      on: `conversation of O and ${who} from before the block`,
      expect: '404',
      async run(u) {
        const res = await call(u, 'DELETE', `/conversations/${id}`);
        assert.equal(res.statusCode, 404, res.body);
      },
    });
}

// Notifications: each sees and marks only their own.
row('GET /notifications', (who) =>
  answer('GET', {
    path: '/notifications',
    ...(who === 'anon'
      ? UNAUTHORIZED
      : { status: 200, check: (b) => assert.deepEqual(ids(b), [note[who]]) }),
  }),
);
row('GET /notifications/unread-count', (who) =>
  answer('GET', {
    path: '/notifications/unread-count',
    ...(who === 'anon'
      ? UNAUTHORIZED
      : { status: 200, check: (b) => assert.deepEqual(b, { count: 1 }) }),
  }),
);
const unreadNotesOfO = async () => (await must(O, 'GET', '/notifications/unread-count', 200)).count;
row('POST /notifications/read', (who) =>
  answer('POST', {
    path: '/notifications/read',
    body: () => ({ ids: [note.O] }),
    ...(who === 'anon'
      ? UNAUTHORIZED
      : who === 'O'
        ? { status: 200, check: (b) => assert.deepEqual(b, { marked: 1, unread: 0 }) }
        : {
            status: 200,
            check: async (b) => {
              assert.deepEqual(b, { marked: 0, unread: 1 });
              assert.equal(await unreadNotesOfO(), 1);
            },
          }),
  }),
);

// ---------------------------------------------------------------------------------------------
// Tests

describe('messages and notifications: authorization matrix', () => {
  for (const c of [...cells, ...extra]) {
    const name = `${c.who}${c.fresh ? ' (new)' : ''} ${c.method} ${c.route}${c.on ? ` [${c.on}]` : ''} → ${c.expect}`;
    it(name, async () => {
      const me =
        c.who === 'anon'
          ? null
          : c.fresh && c.who !== 'O' && c.who !== 'P'
            ? await makeUser(c.who)
            : users[c.who];
      await c.run(me);
    });
  }

  it('covers every route of messages and notifications', () => {
    assertAreaCovered(app, 'messages', new Set(cells.map((c) => `${c.method} ${API}${c.route}`)));
  });
});

// ---------------------------------------------------------------------------------------------
// Notifications across a block

describe('notifications across a block: hidden both ways while it lasts, back after', () => {
  after(() => worker.stop());
  const get = async (me: Account) => {
    const list = await must(me, 'GET', '/notifications', 200);
    const count = (await must(me, 'GET', '/notifications/unread-count', 200)).count;
    const shown = (list.items ?? []).map((n) => ({
      type: n.type,
      actors: (n.actors as Body[]).map((a) => a.id).sort(),
      actor_count: n.actor_count,
    }));
    return {
      shown: shown.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
      count,
    };
  };
  const like = (ids: string[]) => ({
    type: 'like',
    actors: [...ids].sort(),
    actor_count: ids.length,
  });

  it('a user blocked by A and a user who blocked A: gone from A’s list, groups and counts; A gone from theirs', async () => {
    const [a, blocked, blocker, fan] = [
      await account('a'),
      await account('blocked'),
      await account('blocker'),
      await account('fan'),
    ];
    const post = (await must(a, 'POST', '/posts', 201, { text: 'hello' })).id as string;
    for (const u of [blocked, blocker]) {
      await must(u, 'POST', `/users/${a.username}/follow`, 200);
      await must(u, 'POST', `/posts/${post}/comments`, 201, { text: 'nice' });
    }
    for (const u of [blocked, blocker, fan]) await must(u, 'POST', `/posts/${post}/like`, 200);
    // A follows them too: their own notifications name A.
    for (const u of [blocked, blocker]) await must(a, 'POST', `/users/${u.username}/follow`, 200);
    await drain(ctx);
    const one = (type: string, u: Account) => ({ type, actors: [u.id], actor_count: 1 });
    const before = await get(a);
    assert.equal(before.count, 5);
    assert.deepEqual(before.shown.length, 5);
    for (const u of [blocked, blocker]) assert.deepEqual((await get(u)).count, 1);

    await block(a, blocked);
    await block(blocker, a);
    assert.deepEqual(await get(a), { shown: [like([fan.id])], count: 1 });
    for (const u of [blocked, blocker]) assert.deepEqual(await get(u), { shown: [], count: 0 });
    // Marking all read cannot reveal them either.
    assert.deepEqual(await must(a, 'POST', '/notifications/read', 200, { all: true }), {
      marked: 1,
      unread: 0,
    });

    await must(a, 'DELETE', `/users/${blocked.username}/block`, 200);
    const after = await get(a);
    assert.equal(after.count, 2, 'the unblocked user’s follow and comment, unread');
    assert.deepEqual(
      after.shown,
      [one('comment', blocked), one('follow', blocked), like([blocked.id, fan.id])].sort((x, y) =>
        JSON.stringify(x).localeCompare(JSON.stringify(y)),
      ),
    );
    assert.deepEqual(await get(blocked), { shown: [one('follow', a)], count: 1 });
    assert.deepEqual(await get(blocker), { shown: [], count: 0 }, 'still blocking A');
  });
});
