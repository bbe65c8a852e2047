/**
 * The authorization matrix of the social and content API: for every such route, the exact
 * answer each kind of viewer gets. Everything is set up through the public API.
 *
 * O owns a public, a followers and a friends post (plus O's comment on the public one) and has a
 * pending friend request to S2. Viewers: anonymous, O, an unrelated user (other), a follower (F),
 * a friend (R), a user O blocked (B) and a user who blocked O (X); B and X were O's friends
 * before the block. Cases whose request changes state act on fresh fixtures: a new post or
 * comment, or a new user standing towards O as the viewer does.
 *
 * The other routes: test/authorization/routes.test.ts (accounts, the route inventory and the
 * anonymous sweep), test/authorization/messages.test.ts and test/authorization/streams.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API_PREFIX as API } from '../../src/http/types.ts';
import { assertAreaCovered, requester } from '../support/authorization-scope.ts';
import { createTestApp } from '../support/harness.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';

// PGlite runs on this thread: its queries must not read as overload.
const { app } = await createTestApp({ env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '0' } });

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';
type Visibility = 'public' | 'followers' | 'friends';
const VISIBILITIES: Visibility[] = ['public', 'followers', 'friends'];
const VIEWERS = ['anon', 'O', 'other', 'F', 'R', 'B', 'X'] as const;
type Viewer = (typeof VIEWERS)[number];
/** S2 (a stranger O asked to be friends) only appears in friend-request cases. */
type Who = Viewer | 'S2';
type User = Exclude<Who, 'anon'>;

/** Who may see each kind of O's post: a block either way hides everything. */
const SEES: Record<Visibility, Who[]> = {
  public: ['anon', 'O', 'other', 'F', 'R'],
  followers: ['O', 'F', 'R'],
  friends: ['O', 'R'],
};
const sees = (who: Who, vis: Visibility) => SEES[vis].includes(who);

interface Answer {
  id: string;
  items: { id: string }[];
  code?: string;
}

const requests = requester(app);
const call = (as: Account | null, method: Method, path: string, body?: object) =>
  requests.call(as, method, path, body);
/** A setup step that must succeed. */
const must = async (...args: Parameters<typeof requests.must>): Promise<Answer> =>
  (await requests.must(...args)).json<Answer>();

// ---------------------------------------------------------------------------------------------
// Fixtures

const O = await createAccount(app, { username: uniqueUsername('owner') });

async function befriend(a: Account, b: Account): Promise<void> {
  const request = await must(a, 'POST', `/users/${b.username}/friend-request`, 201);
  await must(b, 'POST', `/friend-requests/${request.id}/accept`, 200);
}

/** A new user standing towards O as `who` does. */
async function makeUser(who: User): Promise<Account> {
  assert.notEqual(who, 'O', 'there is only one O');
  const me = await createAccount(app, { username: uniqueUsername(who.toLowerCase()) });
  if (who === 'F') await must(me, 'POST', `/users/${O.username}/follow`, 200);
  if (who === 'R' || who === 'B' || who === 'X') await befriend(me, O);
  if (who === 'B') await must(O, 'POST', `/users/${me.username}/block`, 200);
  if (who === 'X') await must(me, 'POST', `/users/${O.username}/block`, 200);
  if (who === 'S2') await must(O, 'POST', `/users/${me.username}/friend-request`, 201);
  return me;
}

const users: Record<User, Account> = {
  O,
  other: await makeUser('other'),
  F: await makeUser('F'),
  R: await makeUser('R'),
  B: await makeUser('B'),
  X: await makeUser('X'),
  S2: await makeUser('S2'),
};

async function newPost(vis: Visibility): Promise<string> {
  const body = { text: `O's ${vis} post`, visibility: vis };
  return (await must(O, 'POST', '/posts', 201, body)).id;
}
async function newComment(author: Account, postId: string): Promise<string> {
  return (await must(author, 'POST', `/posts/${postId}/comments`, 201, { text: 'a comment' })).id;
}
/** The newest pending friend request sent to `me`. */
async function incomingRequest(me: Account | null): Promise<string> {
  const { items } = await must(me, 'GET', '/friend-requests', 200);
  assert.ok(items[0], 'a pending request');
  return items[0].id;
}

const post: Record<Visibility, string> = {
  public: await newPost('public'),
  followers: await newPost('followers'),
  friends: await newPost('friends'),
};
const commentId = await newComment(O, post.public);
const requestId = await incomingRequest(users.S2); // O → S2, pending

// Fresh fixtures for cases that change state (the thunk runs inside the case).
const freshPost = (vis: Visibility) => () => newPost(vis);
const freshComment = (author: 'O' | 'F', vis: Visibility) => async () =>
  newComment(users[author], await newPost(vis));
const freshRequest = async () => incomingRequest(await makeUser('S2'));

// ---------------------------------------------------------------------------------------------
// Expectations

interface Expect {
  status: number;
  code?: string;
  /** Act as a new user in the viewer's role (the request changes the social graph). */
  fresh?: boolean;
}
interface Case extends Expect {
  who: Who;
  method: Method;
  /** Route under /api/v1 as in the route table; its one `:param` is filled from `param`. */
  url: string;
  param?: string | ((me: Account | null) => Promise<string>);
  /** What the param is, for the test name. */
  on?: string;
  body?: object;
  /** The exact ids in the answer (`items`, or the object itself). */
  ids?: string[];
}

const ok = (status: number): Expect => ({ status });
const asNew = (status: number): Expect => ({ status, fresh: true });
const err = (status: number, code: string): Expect => ({ status, code });
const UNAUTHORIZED = err(401, 'unauthorized');
const POST_HIDDEN = err(404, 'post_not_found');
const COMMENT_HIDDEN = err(404, 'comment_not_found');
const NOT_AUTHOR = err(403, 'not_author');
const BLOCKED = err(403, 'blocked');
const SELF = err(400, 'cannot_target_self');
const NOT_FRIENDS = err(404, 'not_friends');
const NO_REQUEST = err(404, 'friend_request_not_found');
const NOT_RECIPIENT = err(403, 'not_recipient');
const NOT_SENDER = err(403, 'not_sender');
const FRIENDS_FOLLOW = err(409, 'friends_follow_each_other');
const ALREADY_FRIENDS = err(409, 'already_friends');
const everyone = (e: Expect) =>
  Object.fromEntries(VIEWERS.map((v) => [v, e])) as Record<Viewer, Expect>;
const signedIn = (e: Expect) => ({ ...everyone(e), anon: UNAUTHORIZED });

const cases: Case[] = [];
const TEXT = { text: 'edited text' };

// Profile feed first, before any case gives O more posts. Newest first. To a user in a block
// with O, either way, O is not found, as if O did not exist.
const USER_HIDDEN = err(404, 'user_not_found');
const inBlockWithO = (who: Who) => who === 'B' || who === 'X';
for (const who of VIEWERS) {
  const ids = VISIBILITIES.filter((vis) => sees(who, vis)).map((vis) => post[vis]);
  const url = '/users/:username/posts';
  const expect = inBlockWithO(who) ? USER_HIDDEN : { status: 200, ids: ids.reverse() };
  cases.push({ who, method: 'GET', url, param: O.username, ...expect });
}

// Home feed: O's posts reach O and the people following O (F, and R as a friend), as far as each
// may see them; nobody in a block with O, and not an unrelated user.
const FOLLOWS_O: Who[] = ['O', 'F', 'R'];
for (const who of VIEWERS) {
  const ids = VISIBILITIES.filter((vis) => FOLLOWS_O.includes(who) && sees(who, vis)).map(
    (vis) => post[vis],
  );
  const expect = who === 'anon' ? UNAUTHORIZED : { status: 200, ids: ids.reverse() };
  cases.push({ who, method: 'GET', url: '/feed', ...expect });
}

// Reading a post and what hangs off it.
for (const vis of VISIBILITIES) {
  const reads: [string, string[]][] = [
    ['', [post[vis]]],
    ['/history', []],
    ['/likes', []],
    ['/comments', vis === 'public' ? [commentId] : []],
  ];
  for (const who of VIEWERS) {
    for (const [suffix, ids] of reads) {
      const expect = sees(who, vis) ? { status: 200, ids } : POST_HIDDEN;
      const url = `/posts/:id${suffix}`;
      cases.push({ who, method: 'GET', url, param: post[vis], on: `${vis} post`, ...expect });
    }
  }
}

// Writing on a post: the author edits and deletes; anyone who sees it likes and comments.
for (const who of VIEWERS) {
  cases.push({ who, method: 'POST', url: '/posts', body: TEXT, ...signedIn(ok(201))[who] });
  for (const vis of VISIBILITIES) {
    const visible = sees(who, vis);
    const author = (status: number) =>
      who === 'anon' ? UNAUTHORIZED : who === 'O' ? ok(status) : visible ? NOT_AUTHOR : POST_HIDDEN;
    const reader = (status: number) =>
      who === 'anon' ? UNAUTHORIZED : visible ? ok(status) : POST_HIDDEN;
    const on = { param: freshPost(vis), on: `new ${vis} post` };
    cases.push(
      { who, method: 'PATCH', url: '/posts/:id', ...on, body: TEXT, ...author(200) },
      { who, method: 'DELETE', url: '/posts/:id', ...on, ...author(204) },
      { who, method: 'POST', url: '/posts/:id/like', ...on, ...reader(200) },
      { who, method: 'DELETE', url: '/posts/:id/like', ...on, ...reader(200) },
      { who, method: 'POST', url: '/posts/:id/comments', ...on, body: TEXT, ...reader(201) },
    );
  }
}

// Comments: only their author edits; their author or the post's author deletes. Others who see
// the comment get 403, who cannot 404.
const COMMENTED: ['O' | 'F', Visibility][] = [
  ['O', 'public'],
  ['F', 'followers'],
];
for (const [author, vis] of COMMENTED) {
  const on = `${author}'s comment on O's ${vis} post`;
  for (const who of VIEWERS) {
    const rule = (allowed: boolean, status: number) => {
      if (who === 'anon') return UNAUTHORIZED;
      if (allowed) return ok(status);
      return sees(who, vis) ? NOT_AUTHOR : COMMENT_HIDDEN;
    };
    const target = { url: '/comments/:id', param: freshComment(author, vis), on };
    const mayDelete = who === author || who === 'O';
    cases.push(
      { who, method: 'PATCH', ...target, body: TEXT, ...rule(who === author, 200) },
      { who, method: 'DELETE', ...target, ...rule(mayDelete, 204) },
    );
  }
}
// The post's author may still remove a comment written by someone now in a block with them.
const commentThenBlock = (role: 'B' | 'X') => async () => {
  const author = await createAccount(app, { username: uniqueUsername(role.toLowerCase()) });
  const id = await newComment(author, await newPost('public'));
  const [blocker, blocked] = role === 'B' ? [O, author] : [author, O];
  await must(blocker, 'POST', `/users/${blocked.username}/block`, 200);
  return id;
};
for (const role of ['B', 'X'] as const) {
  const on = `comment by a new ${role}, written before the block`;
  const param = commentThenBlock(role);
  cases.push(
    { who: 'O', method: 'DELETE', url: '/comments/:id', param, on, ...ok(204) },
    { who: 'O', method: 'PATCH', url: '/comments/:id', param, on, body: TEXT, ...COMMENT_HIDDEN },
  );
}

// The social graph, aimed at O ('METHOD url' → what each viewer gets).
const graph = (base: Expect, overrides: Partial<Record<Viewer, Expect>> = {}) => ({
  ...signedIn(base),
  O: SELF,
  ...overrides,
});
const ON_O: Record<string, Record<Viewer, Expect>> = {
  'POST /users/:username/follow': graph(ok(200), { other: asNew(200), B: BLOCKED, X: BLOCKED }),
  'DELETE /users/:username/follow': graph(ok(200), { F: asNew(200), R: FRIENDS_FOLLOW }),
  'POST /users/:username/block': graph(asNew(200), { X: ok(200) }),
  'DELETE /users/:username/block': graph(ok(200), { X: asNew(200) }),
  'POST /users/:username/mute': graph(asNew(200)),
  'DELETE /users/:username/mute': graph(ok(200)),
  'POST /users/:username/friend-request': graph(asNew(201), {
    R: ALREADY_FRIENDS,
    B: BLOCKED,
    X: BLOCKED,
  }),
  'DELETE /friends/:username': graph(NOT_FRIENDS, { O: SELF, R: asNew(204) }),
  'GET /users/:username/followers': { ...everyone(ok(200)), B: USER_HIDDEN, X: USER_HIDDEN },
  'GET /users/:username/following': { ...everyone(ok(200)), B: USER_HIDDEN, X: USER_HIDDEN },
  'GET /users/:username/friends': { ...everyone(ok(200)), B: USER_HIDDEN, X: USER_HIDDEN },
};
const toO = { param: O.username, on: 'O' };
for (const [route, rules] of Object.entries(ON_O)) {
  const [method, url] = route.split(' ') as [Method, string];
  for (const who of VIEWERS) cases.push({ who, method, url, ...toO, ...rules[who] });
}
// S2 asking O back accepts O's request; O cannot reach the users in a block with O either.
const askO = { method: 'POST', url: '/users/:username/friend-request', ...toO } as const;
cases.push({ who: 'S2', ...askO, ...asNew(200) });
for (const target of ['B', 'X'] as const) {
  const them = { param: users[target].username, on: target };
  for (const url of ['/users/:username/follow', '/users/:username/friend-request']) {
    cases.push({ who: 'O', method: 'POST', url, ...them, ...BLOCKED });
  }
}

// Answering O's pending request to S2: only the recipient answers, only the sender cancels.
const answer = (parties: { O: Expect; S2: Expect }) => ({
  ...signedIn(NO_REQUEST),
  ...parties,
});
const ANSWERS: Record<string, Record<Who, Expect>> = {
  'POST /friend-requests/:id/accept': answer({ O: NOT_RECIPIENT, S2: asNew(200) }),
  'POST /friend-requests/:id/decline': answer({ O: NOT_RECIPIENT, S2: asNew(200) }),
  'DELETE /friend-requests/:id': answer({ O: ok(204), S2: NOT_SENDER }),
};
for (const [route, rules] of Object.entries(ANSWERS)) {
  const [method, url] = route.split(' ') as [Method, string];
  for (const who of [...VIEWERS, 'S2'] as const) {
    const rule = rules[who];
    // A success uses up a request: a new S2 answers theirs, O cancels one sent to a new S2.
    const param = rule.status >= 300 ? requestId : who === 'O' ? freshRequest : incomingRequest;
    cases.push({ who, method, url, param, on: 'request O → S2', ...rule });
  }
}

// The caller's own views of the graph.
for (const url of [`/relationships?users=${O.username}`, '/me/suggestions', '/friend-requests']) {
  for (const who of VIEWERS) cases.push({ who, method: 'GET', url, ...signedIn(ok(200))[who] });
}

// ---------------------------------------------------------------------------------------------
// Tests

describe('authorization matrix fixtures', () => {
  it('stand towards O as described', async () => {
    const names = (['other', 'F', 'R', 'B', 'X', 'S2'] as const).map((w) => users[w].username);
    const res = await call(O, 'GET', `/relationships?users=${names.join(',')}`);
    assert.equal(res.statusCode, 200, res.body);
    const flags = (rel: Record<string, unknown>) =>
      Object.keys(rel)
        .filter((k) => rel[k] === true)
        .join(' ');
    const seen = Object.fromEntries(
      res.json<{ items: Record<string, unknown>[] }>().items.map((r) => [r.username, flags(r)]),
    );
    assert.deepEqual(seen, {
      [users.other.username]: '',
      [users.F.username]: 'followed_by',
      [users.R.username]: 'following followed_by friends',
      [users.B.username]: 'blocking',
      [users.X.username]: 'blocked_by',
      [users.S2.username]: 'request_outgoing',
    });
  });
});

describe('authorization matrix', () => {
  for (const c of cases) {
    const name = `${c.who}${c.fresh ? ' (new)' : ''} ${c.method} ${c.url}${c.on ? ` [${c.on}]` : ''} → ${c.status}${c.code ? ` ${c.code}` : ''}`;
    it(name, async () => {
      const me = c.who === 'anon' ? null : c.fresh ? await makeUser(c.who) : users[c.who];
      const param = typeof c.param === 'function' ? await c.param(me) : c.param;
      const res = await call(me, c.method, param ? c.url.replace(/:\w+/, param) : c.url, c.body);
      assert.equal(res.statusCode, c.status, res.body);
      if (c.code !== undefined) assert.equal(res.json<Answer>().code, c.code);
      if (c.ids) {
        const body = res.json<Answer>();
        assert.deepEqual(body.items ? body.items.map((i) => i.id) : [body.id], c.ids);
      }
    });
  }
});

describe('authorization matrix completeness', () => {
  it('covers every social and content route', () => {
    const covered = cases.map((c) => `${c.method} ${API}${c.url.split('?')[0]}`);
    assertAreaCovered(app, 'content', covered);
  });
});
