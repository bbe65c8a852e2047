/**
 * The authorization matrix of the Mastodon client API: for every route, the status each kind of
 * viewer gets when it names the owner O's account or O's public post. Viewers: anonymous, an
 * unrelated user (other), a user O blocked (B), a user who blocked O (X), and O. A block hides
 * each side from the other, as on kith's own routes (404, never a hint); O's followers-only post
 * is not found by anyone but O. Every answer is JSON, every error `{"error"}`.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { assertAreaCovered } from '../support/authorization-scope.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';
import { drain } from '../support/drain.ts';
import { createTestAppWithWorker } from '../support/harness.ts';

const { app, ctx, worker } = await createTestAppWithWorker('mastodon-authz', {
  env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '0' },
});
after(() => worker.stop());

const VIEWERS = ['anon', 'other', 'B', 'X', 'O'] as const;
type Viewer = (typeof VIEWERS)[number];
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

const account = (name: string) => createAccount(app, { username: uniqueUsername(name) });
const call = (
  as: Account | null,
  method: Method,
  url: string,
  body?: object,
  headers: Record<string, string> = {},
) =>
  app.inject({
    method,
    url,
    headers: { ...as?.auth, ...headers },
    ...(body ? { payload: body } : {}),
  });
async function must(as: Account, method: Method, url: string, body?: object) {
  const res = await call(as, method, url, body);
  assert.equal(res.statusCode, 200, `setup: ${method} ${url}: ${res.body}`);
  return res.json<{ id: string }>();
}

const O = await account('owner');
const users = { O, other: await account('other'), B: await account('b'), X: await account('x') };
await must(O, 'POST', `/api/v1/accounts/${users.B.id}/block`);
await must(users.X, 'POST', `/api/v1/accounts/${O.id}/block`);
const status = async (visibility = 'public') =>
  (await must(O, 'POST', '/api/v1/statuses', { status: 'from O', visibility })).id;
const pub = await status();
// O's one notification: N follows O.
const N = await account('n');
await must(N, 'POST', `/api/v1/accounts/${O.id}/follow`);
await drain(ctx);
const MASTODON = { 'kith-flavour': 'mastodon' };
const notificationsOf = async (who: Account | null) =>
  app.inject({ url: '/api/v1/notifications', headers: { ...who?.auth, ...MASTODON } });
const [notification] = (await notificationsOf(O)).json<{ id: string }[]>();
const priv = await status('private');
// A reply (a kith comment) by the unrelated user on O's public post: seen as the post is.
const reply = (
  await must(users.other, 'POST', '/api/v1/statuses', { status: 're', in_reply_to_id: pub })
).id;
// O's direct message to P (a kith message): the two of them only.
const P = await account('p');
const dm = (
  await must(O, 'POST', '/api/v1/statuses', { status: `@${P.username} hi`, visibility: 'direct' })
).id;
const withP = (
  await app.inject({ url: '/api/v1/conversations', headers: { ...O.auth, ...MASTODON } })
).json<{ id: string }[]>()[0]!.id;

/** Who may see O and O's public post: anyone but the two sides of a block. */
const SEES: Record<Viewer, number> = { anon: 200, other: 200, B: 404, X: 404, O: 200 };
const SIGNED_IN: Record<Viewer, number> = { anon: 401, other: 200, B: 200, X: 200, O: 200 };
const SEES_SIGNED_IN: Record<Viewer, number> = { ...SEES, anon: 401 };
const ANYONE: Record<Viewer, number> = { anon: 200, other: 200, B: 200, X: 200, O: 200 };
const only = (status: number): Record<Viewer, number> => ({ ...SIGNED_IN, O: status });
const allBut = (o: number): Record<Viewer, number> => ({ ...SEES_SIGNED_IN, O: o });
const NOBODY: Record<Viewer, number> = { anon: 404, other: 404, B: 404, X: 404, O: 404 };

interface Cell {
  method: Method;
  route: string;
  url: string | ((viewer: Viewer) => Promise<string> | string);
  expect: Record<Viewer, number>;
  body?: object;
  /** Mastodon's flavour of a path kith shares (its area is kith's: not in this matrix's scope). */
  shared?: true;
  /** Extra headers (`Kith-Flavour: mastodon` where kith's own route shares the path). */
  headers?: Record<string, string>;
  /** Puts the viewer's standing towards O back after a request that changed it. */
  restore?: (viewer: Viewer) => Promise<unknown>;
}
const v1 = '/api/v1';
const acc = `${v1}/accounts/${O.id}`;
const st = (id: string) => `${v1}/statuses/${id}`;
const cells: Cell[] = [
  {
    method: 'GET',
    route: '/v1/accounts/verify_credentials',
    url: `${v1}/accounts/verify_credentials`,
    expect: SIGNED_IN,
  },
  {
    method: 'PATCH',
    route: '/v1/accounts/update_credentials',
    url: `${v1}/accounts/update_credentials`,
    expect: SIGNED_IN,
    body: { display_name: 'Me' },
  },
  {
    method: 'GET',
    route: '/v1/accounts/lookup',
    url: `${v1}/accounts/lookup?acct=${O.username}`,
    expect: SEES,
  },
  {
    method: 'GET',
    route: '/v1/accounts/search',
    url: `${v1}/accounts/search?q=${O.username}`,
    expect: SIGNED_IN,
  },
  {
    method: 'GET',
    route: '/v1/accounts/relationships',
    url: `${v1}/accounts/relationships?id[]=${O.id}`,
    expect: SIGNED_IN,
  },
  { method: 'GET', route: '/v1/accounts/:id', url: acc, expect: SEES },
  { method: 'GET', route: '/v1/accounts/:id/statuses', url: `${acc}/statuses`, expect: SEES },
  { method: 'GET', route: '/v1/accounts/:id/followers', url: `${acc}/followers`, expect: SEES },
  { method: 'GET', route: '/v1/accounts/:id/following', url: `${acc}/following`, expect: SEES },
  { method: 'GET', route: '/v1/accounts/:id/lists', url: `${acc}/lists`, expect: SIGNED_IN },
  // Acting on oneself is refused; on the other side of a block, the account is not found
  // (blocking and unblocking excepted: they must reach the other side).
  { method: 'POST', route: '/v1/accounts/:id/follow', url: `${acc}/follow`, expect: allBut(422) },
  {
    method: 'POST',
    route: '/v1/accounts/:id/unfollow',
    url: `${acc}/unfollow`,
    expect: allBut(422),
  },
  { method: 'POST', route: '/v1/accounts/:id/mute', url: `${acc}/mute`, expect: allBut(422) },
  { method: 'POST', route: '/v1/accounts/:id/unmute', url: `${acc}/unmute`, expect: allBut(422) },
  {
    method: 'POST',
    route: '/v1/accounts/:id/block',
    url: `${acc}/block`,
    expect: only(422),
    restore: async (v) => v === 'other' && must(users.other, 'POST', `${acc}/unblock`),
  },
  {
    method: 'POST',
    route: '/v1/accounts/:id/unblock',
    url: `${acc}/unblock`,
    expect: only(422),
    restore: async (v) => v === 'X' && must(users.X, 'POST', `${acc}/block`),
  },
  { method: 'GET', route: '/v1/follow_requests', url: `${v1}/follow_requests`, expect: SIGNED_IN },
  // Nobody has a pending request from O.
  {
    method: 'POST',
    route: '/v1/follow_requests/:id/authorize',
    url: `${v1}/follow_requests/${O.id}/authorize`,
    expect: { anon: 401, other: 404, B: 404, X: 404, O: 404 },
  },
  {
    method: 'POST',
    route: '/v1/follow_requests/:id/reject',
    url: `${v1}/follow_requests/${O.id}/reject`,
    expect: { anon: 401, other: 404, B: 404, X: 404, O: 404 },
  },
  {
    method: 'POST',
    route: '/v1/statuses',
    url: `${v1}/statuses`,
    expect: SIGNED_IN,
    body: { status: 'hi' },
  },
  { method: 'GET', route: '/v1/statuses/:id', url: st(pub), expect: SEES },
  // Replying is commenting: whoever may see the post (a comment of theirs on it, too).
  {
    method: 'POST',
    route: '/v1/statuses',
    url: `${v1}/statuses`,
    expect: SEES_SIGNED_IN,
    body: { status: 'a reply', in_reply_to_id: pub },
  },
  {
    method: 'POST',
    route: '/v1/statuses',
    url: `${v1}/statuses`,
    expect: SEES_SIGNED_IN,
    body: { status: 'a reply to a reply', in_reply_to_id: reply },
  },
  { method: 'GET', route: '/v1/statuses/:id', url: st(reply), expect: SEES },
  {
    method: 'GET',
    route: '/v1/statuses/:id/context',
    url: `${st(reply)}/context`,
    expect: SEES,
  },
  {
    method: 'GET',
    route: '/v1/statuses/:id/source',
    url: `${st(reply)}/source`,
    expect: { anon: 401, other: 200, B: 404, X: 404, O: 404 },
  },
  // The reply's author may edit it; O (the post's author) sees it but may not.
  {
    method: 'PUT',
    route: '/v1/statuses/:id',
    url: st(reply),
    expect: { anon: 401, other: 200, B: 404, X: 404, O: 403 },
    body: { status: 'edited reply' },
  },
  // No likes on comments: refused to whoever sees it.
  {
    method: 'POST',
    route: '/v1/statuses/:id/favourite',
    url: `${st(reply)}/favourite`,
    expect: { ...SEES_SIGNED_IN, other: 422, O: 422 },
  },
  {
    method: 'PUT',
    route: '/v1/statuses/:id',
    url: st(pub),
    expect: { ...SEES_SIGNED_IN, other: 403 },
    body: { status: 'edited' },
  },
  {
    method: 'DELETE',
    route: '/v1/statuses/:id',
    url: async (v) => st(v === 'O' ? await status() : pub),
    expect: { ...SEES_SIGNED_IN, other: 403 },
  },
  {
    method: 'POST',
    route: '/v1/statuses/:id/favourite',
    url: `${st(pub)}/favourite`,
    expect: SEES_SIGNED_IN,
  },
  {
    method: 'POST',
    route: '/v1/statuses/:id/unfavourite',
    url: `${st(pub)}/unfavourite`,
    expect: SEES_SIGNED_IN,
  },
  {
    method: 'GET',
    route: '/v1/statuses/:id/favourited_by',
    url: `${st(pub)}/favourited_by`,
    expect: SEES,
  },
  { method: 'GET', route: '/v1/statuses/:id/context', url: `${st(pub)}/context`, expect: SEES },
  { method: 'GET', route: '/v1/statuses/:id/history', url: `${st(pub)}/history`, expect: SEES },
  {
    method: 'GET',
    route: '/v1/statuses/:id/source',
    url: `${st(pub)}/source`,
    expect: { ...SEES_SIGNED_IN, other: 404 },
  },
  // Back to the default picture: anyone's own only (there is no other account to name).
  ...(['avatar', 'header'] as const).map((kind): Cell => ({
    method: 'DELETE',
    route: `/v1/profile/${kind}`,
    url: `${v1}/profile/${kind}`,
    expect: SIGNED_IN,
  })),
  // Signed in, a JSON body without a file: 422 (the upload itself is in the media tests).
  {
    method: 'POST',
    route: '/v2/media',
    url: '/api/v2/media',
    expect: { anon: 401, other: 422, B: 422, X: 422, O: 422 },
    body: { description: 'no file' },
  },
  { method: 'GET', route: '/v1/markers', url: `${v1}/markers?timeline[]=home`, expect: SIGNED_IN },
  {
    method: 'POST',
    route: '/v1/markers',
    url: `${v1}/markers`,
    expect: SIGNED_IN,
    body: { home: { last_read_id: pub } },
  },
  {
    method: 'GET',
    route: '/v1/notifications/unread_count',
    url: `${v1}/notifications/unread_count`,
    expect: SIGNED_IN,
  },
  {
    method: 'GET',
    route: '/v1/notifications/:id',
    url: `${v1}/notifications/${notification!.id}`,
    expect: { ...SIGNED_IN, other: 404, B: 404, X: 404 },
  },
  {
    method: 'POST',
    route: '/v1/notifications/:id/dismiss',
    url: `${v1}/notifications/${notification!.id}/dismiss`,
    expect: { ...SIGNED_IN, other: 404, B: 404, X: 404 },
  },
  {
    method: 'POST',
    route: '/v1/notifications/clear',
    url: `${v1}/notifications/clear`,
    expect: SIGNED_IN,
  },
  { method: 'GET', route: '/v1/timelines/home', url: `${v1}/timelines/home`, expect: SIGNED_IN },
  // The caller's own lists.
  { method: 'GET', route: '/v1/favourites', url: `${v1}/favourites`, expect: SIGNED_IN },
  { method: 'GET', route: '/v1/blocks', url: `${v1}/blocks`, expect: SIGNED_IN },
  { method: 'GET', route: '/v1/mutes', url: `${v1}/mutes`, expect: SIGNED_IN },
  { method: 'GET', route: '/v1/preferences', url: `${v1}/preferences`, expect: SIGNED_IN },
  {
    method: 'GET',
    route: '/v1/push/subscription',
    url: `${v1}/push/subscription`,
    expect: { ...SIGNED_IN, other: 404, B: 404, X: 404, O: 404 },
  },
  // Tags and search are anyone's to read (what they find is test/authorization/search.test.ts);
  // following a tag needs a token. kith's own POST /v1/tags/:tag/follow shares the path.
  {
    method: 'GET',
    route: '/v1/timelines/tag/:hashtag',
    url: `${v1}/timelines/tag/kith`,
    expect: ANYONE,
  },
  { method: 'GET', route: '/v1/tags/:name', url: `${v1}/tags/kith`, expect: ANYONE },
  {
    method: 'POST',
    route: '/v1/tags/:name/follow',
    url: `${v1}/tags/kith/follow`,
    expect: SIGNED_IN,
    headers: MASTODON,
  },
  {
    method: 'POST',
    route: '/v1/tags/:name/unfollow',
    url: `${v1}/tags/kith/unfollow`,
    expect: SIGNED_IN,
  },
  { method: 'GET', route: '/v2/search', url: `/api/v2/search?q=${O.username}`, expect: ANYONE },
  ...[
    '/v1/lists',
    '/v1/filters',
    '/v2/filters',
    '/v1/custom_emojis',
    '/v1/announcements',
    // followed_tags, trends/tags and timelines/public are kith's own search routes too: their
    // matrix is test/authorization/search.test.ts.
    '/v1/trends/statuses',
    '/v1/trends/links',
    '/v1/bookmarks',
    '/v1/scheduled_statuses',
  ].map((route): Cell => ({
    method: 'GET',
    route,
    url: `/api${route.replace(':hashtag', 'kith')}`,
    expect: SIGNED_IN,
  })),
  // O's direct message to P: a status to its two members only; kith cannot favourite, edit or
  // delete a message (422 for O).
  ...(['', '/context'] as const).map((path): Cell => ({
    method: 'GET',
    route: `/v1/statuses/:id${path}`,
    url: `${st(dm)}${path}`,
    expect: { ...NOBODY, O: 200 },
  })),
  ...(
    [
      ['POST', '/favourite'],
      ['POST', '/unfavourite'],
      ['PUT', ''],
      ['DELETE', ''],
    ] as const
  ).map(([method, path]): Cell => ({
    method,
    route: `/v1/statuses/:id${path}`,
    url: `${st(dm)}${path}`,
    expect: { ...NOBODY, anon: 401, O: 422 },
    body: { status: 'edited' },
  })),
  // Conversations share kith's paths (the token decides; here the flavour header).
  {
    method: 'GET',
    route: '/v1/conversations',
    url: `${v1}/conversations`,
    expect: SIGNED_IN,
    shared: true,
  },
  {
    method: 'POST',
    route: '/v1/conversations/:id/read',
    url: `${v1}/conversations/${withP}/read`,
    expect: { ...NOBODY, anon: 401, O: 200 },
    shared: true,
  },
];

describe('Mastodon API authorization matrix', () => {
  for (const cell of cells) {
    it(`${cell.method} ${cell.route}`, async () => {
      for (const viewer of VIEWERS) {
        const url = typeof cell.url === 'string' ? cell.url : await cell.url(viewer);
        const as = viewer === 'anon' ? null : users[viewer];
        const headers = { ...(cell.shared ? MASTODON : {}), ...cell.headers };
        const res = await call(as, cell.method, url, cell.body, headers);
        assert.equal(res.statusCode, cell.expect[viewer], `${viewer}: ${res.body}`);
        assert.match(String(res.headers['content-type']), /^application\/json; charset=utf-8$/);
        if (res.statusCode >= 400) assert.equal(typeof res.json().error, 'string', res.body);
        await cell.restore?.(viewer);
      }
    });
  }

  it('finds O’s followers-only post for O alone', async () => {
    for (const viewer of VIEWERS) {
      const res = await call(viewer === 'anon' ? null : users[viewer], 'GET', st(priv));
      assert.equal(res.statusCode, viewer === 'O' ? 200 : 404, viewer);
    }
  });

  it('deletes a reply for its author and the post’s author only', async () => {
    for (const viewer of VIEWERS) {
      const mine = await must(users.other, 'POST', `${v1}/statuses`, {
        status: 'to delete',
        in_reply_to_id: pub,
      });
      const res = await call(viewer === 'anon' ? null : users[viewer], 'DELETE', st(mine.id));
      const expected = { anon: 401, other: 200, B: 404, X: 404, O: 200 }[viewer];
      assert.equal(res.statusCode, expected, `${viewer}: ${res.body}`);
    }
  });

  it('keeps the sides of a block out of each other’s timelines and searches', async () => {
    for (const viewer of ['B', 'X'] as const) {
      const found = await call(users[viewer], 'GET', `${v1}/accounts/search?q=${O.username}`);
      assert.deepEqual(found.json(), [], viewer);
      const v2 = await call(users[viewer], 'GET', `/api/v2/search?q=${O.username}`);
      assert.deepEqual(v2.json(), { accounts: [], statuses: [], hashtags: [] }, viewer);
      const statuses = await call(users[viewer], 'GET', `${acc}/statuses`);
      assert.equal(statuses.statusCode, 404);
    }
  });

  it('lists Mastodon conversations to their members only', async () => {
    const list = async (who: Account) =>
      (await call(who, 'GET', `${v1}/conversations`, undefined, MASTODON)).json<{ id: string }[]>();
    assert.deepEqual(
      (await list(O)).map((c) => c.id),
      [withP],
    );
    for (const viewer of ['other', 'B', 'X'] as const)
      assert.deepEqual(await list(users[viewer]), [], viewer);
  });

  it('serves Mastodon notifications to their owner only, and anonymous a JSON 401', async () => {
    const anonymous = await notificationsOf(null);
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().error, 'The access token is invalid');
    for (const viewer of ['other', 'B', 'X'] as const) {
      assert.deepEqual((await notificationsOf(users[viewer])).json(), [], viewer);
    }
  });

  it('answers the CORS preflight to anyone, before any token check', async () => {
    const res = await app.inject({
      method: 'OPTIONS',
      url: `${v1}/accounts/verify_credentials`,
      headers: { origin: 'https://phanpy.example', 'access-control-request-method': 'GET' },
    });
    assert.equal(res.statusCode, 204);
  });

  it('covers every route of the Mastodon API', () => {
    const keys = cells.filter((c) => !c.shared).map((c) => `${c.method} /api${c.route}`);
    assertAreaCovered(app, 'mastodon', new Set([...keys, 'OPTIONS *']));
  });
});
