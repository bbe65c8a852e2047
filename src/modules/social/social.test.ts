import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { App } from '../../http/types.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { uniqueUsername, type Account } from '../../../test/support/factories.ts';
import { assertProblem } from '../../../test/support/problems.ts';
import { api, cursorOf, expectStatus, type Page } from '../../../test/support/api.ts';

const API = '/api/v1';
type Res = LightMyRequestResponse;
const LISTED_KEYS = ['display_name', 'id', 'since', 'username'];
type Listed = Record<'id' | 'username' | 'display_name' | 'since', string>;

let app: App;
before(async () => {
  ({ app } = await createTestApp());
});

const { call, accounts, befriend, counts, flags } = api(() => app);
const onUser = (method: 'POST' | 'DELETE', edge: string) => (a: Account, b: Account) =>
  call(method, `/users/${b.username}/${edge}`, a);
const follow = onUser('POST', 'follow');
const unfollow = onUser('DELETE', 'follow');
const block = onUser('POST', 'block');
const unblock = onUser('DELETE', 'block');
const mute = onUser('POST', 'mute');
const unmute = onUser('DELETE', 'mute');
const friendRequest = onUser('POST', 'friend-request');
/** The body of a 200 follow/block/mute answer, without its `user`. */
const state = (res: Res) => {
  const body = expectStatus(res).json<Record<string, unknown>>();
  delete body.user;
  return body;
};

const pendingNames = async (a: Account, direction: 'incoming' | 'outgoing') =>
  expectStatus(await call('GET', `/friend-requests?direction=${direction}`, a))
    .json<Page<{ from: { username: string }; to: { username: string } }>>()
    .items.map((r) => `${r.from.username}>${r.to.username}`);

const names = (...users: Account[]) => users.map((u) => u.username);
const listNames = async (kind: string, u: Account) =>
  expectStatus(await call('GET', `/users/${u.username}/${kind}?limit=100`))
    .json<Page<Listed>>()
    .items.map((i) => i.username);

describe('follow, block and mute: common errors', () => {
  for (const edge of ['follow', 'block', 'mute']) {
    for (const method of ['POST', 'DELETE'] as const) {
      it(`${method} /users/{u}/${edge}: self 400, unknown 404, anonymous 401`, async () => {
        const [a] = await accounts(1);
        const at = (name: string, who?: Account) => call(method, `/users/${name}/${edge}`, who);
        assertProblem(await at(a.username, a), 400, 'cannot_target_self');
        assertProblem(await at(a.username.toUpperCase(), a), 400, 'cannot_target_self');
        assertProblem(await at(uniqueUsername('ghost'), a), 404, 'user_not_found');
        assertProblem(await at(a.username), 401, 'unauthorized');
        assert.deepEqual(await counts(a), ['0/0/0']);
      });
    }
  }
});

describe('POST/DELETE /users/{u}/follow', () => {
  it('follows and unfollows idempotently, with exact counts', async () => {
    const [a, b] = await accounts(2);
    const res = expectStatus(await follow(a, b)).json();
    assert.deepEqual(res, {
      user: { id: b.id, username: b.username, display_name: b.username },
      following: true,
      changed: true,
    });
    assert.deepEqual(await counts(a, b), ['0/1/0', '1/0/0']);
    assert.deepEqual(state(await follow(a, b)), { following: true, changed: false });
    assert.deepEqual(await counts(a, b), ['0/1/0', '1/0/0']);
    assert.deepEqual(await flags(a, b), ['following']);
    assert.deepEqual(await flags(b, a), ['followed_by']);

    assert.deepEqual(state(await unfollow(a, b)), { following: false, changed: true });
    assert.deepEqual(state(await unfollow(a, b)), { following: false, changed: false });
    assert.deepEqual(await counts(a, b), ['0/0/0', '0/0/0']);
  });

  it('refuses 403 blocked when either side blocks the other', async () => {
    const [a, b] = await accounts(2);
    expectStatus(await block(a, b));
    assertProblem(await follow(a, b), 403, 'blocked');
    assertProblem(await follow(b, a), 403, 'blocked');
    assert.deepEqual(await counts(a, b), ['0/0/0', '0/0/0']);
  });

  it('refuses to unfollow a friend with 409 and keeps the follow', async () => {
    const [a, b] = await accounts(2);
    await befriend(a, b);
    assertProblem(await unfollow(a, b), 409, 'friends_follow_each_other');
    assert.deepEqual(await flags(a, b), ['followed_by', 'following', 'friends']);
    assert.deepEqual(await counts(a, b), ['1/1/1', '1/1/1']);
  });
});

describe('POST/DELETE /users/{u}/block', () => {
  it('severs follows both ways and the friendship; neither side can follow or befriend', async () => {
    const [a, b, c] = await accounts(3);
    await befriend(a, b);
    expectStatus(await follow(c, a));
    const res = expectStatus(await block(a, b)).json<{ user: { id: string }; blocking: boolean }>();
    assert.deepEqual([res.user.id, res.blocking], [b.id, true]);
    assert.deepEqual(await counts(a, b), ['1/0/0', '0/0/0']);
    assert.deepEqual(await flags(a, b), ['blocking']);
    assert.deepEqual(await flags(b, a), ['blocked_by']);
    assert.deepEqual(await listNames('friends', a), []);
    assert.deepEqual(await listNames('followers', a), names(c));
    assertProblem(await follow(a, b), 403, 'blocked');
    assertProblem(await follow(b, a), 403, 'blocked');
    assertProblem(await friendRequest(a, b), 403, 'blocked');
    assertProblem(await friendRequest(b, a), 403, 'blocked');
  });

  for (const blockerSent of [true, false]) {
    it(`cancels a pending request ${blockerSent ? 'from' : 'to'} the blocker and one-way follows`, async () => {
      const [a, b] = await accounts(2);
      expectStatus(await follow(a, b));
      expectStatus(await follow(b, a));
      expectStatus(await (blockerSent ? friendRequest(a, b) : friendRequest(b, a)), 201);
      expectStatus(await block(a, b));
      for (const u of [a, b]) {
        assert.deepEqual(await pendingNames(u, 'incoming'), []);
        assert.deepEqual(await pendingNames(u, 'outgoing'), []);
      }
      assert.deepEqual(await counts(a, b), ['0/0/0', '0/0/0']);
    });
  }

  it('is idempotent; unblocking restores nothing but allows following again', async () => {
    const [a, b] = await accounts(2);
    expectStatus(await follow(b, a));
    assert.deepEqual(state(await block(a, b)), { blocking: true, changed: true });
    assert.deepEqual(state(await block(a, b)), { blocking: true, changed: false });
    assert.deepEqual(state(await unblock(a, b)), { blocking: false, changed: true });
    assert.deepEqual(state(await unblock(a, b)), { blocking: false, changed: false });
    assert.deepEqual(await flags(a, b), []);
    assert.deepEqual(await counts(a, b), ['0/0/0', '0/0/0']);
    assert.deepEqual(state(await follow(b, a)), { following: true, changed: true });
    expectStatus(await friendRequest(a, b), 201);
  });
});

describe('POST/DELETE /users/{u}/mute', () => {
  it('is idempotent, shows as muting and leaves following alone', async () => {
    const [a, b] = await accounts(2);
    expectStatus(await follow(a, b));
    assert.deepEqual(state(await mute(a, b)), { muting: true, changed: true });
    assert.deepEqual(state(await mute(a, b)), { muting: true, changed: false });
    assert.deepEqual(await flags(a, b), ['following', 'muting']);
    assert.deepEqual(await flags(b, a), ['followed_by']);
    expectStatus(await follow(b, a));
    assert.deepEqual(await counts(a, b), ['1/1/0', '1/1/0']);
    assert.deepEqual(state(await unmute(a, b)), { muting: false, changed: true });
    assert.deepEqual(state(await unmute(a, b)), { muting: false, changed: false });
    assert.deepEqual(await flags(a, b), ['followed_by', 'following']);
  });
});

describe('GET /relationships', () => {
  it('reports every flag, in the order asked, leaving unknown names out', async () => {
    const [me, fo, fb, fr, ro, ri, bl, bb, mu] = await accounts(9);
    expectStatus(await follow(me, fo));
    expectStatus(await follow(fb, me));
    await befriend(me, fr);
    expectStatus(await friendRequest(me, ro), 201);
    expectStatus(await friendRequest(ri, me), 201);
    expectStatus(await block(me, bl));
    expectStatus(await block(bb, me));
    expectStatus(await mute(me, mu));
    const expected: [Account, string[]][] = [
      [fo, ['following']],
      [fb, ['followed_by']],
      [fr, ['followed_by', 'following', 'friends']],
      [ro, ['request_outgoing']],
      [ri, ['request_incoming']],
      [bl, ['blocking']],
      [bb, ['blocked_by']],
      [mu, ['muting']],
    ];
    const asked = names(...expected.map(([u]) => u));
    asked.splice(3, 0, uniqueUsername('ghost'), fo.username.toUpperCase());
    const res = expectStatus(await call('GET', `/relationships?users=${asked.join(',')}`, me));
    const items = res.json<{ items: Record<string, unknown>[] }>().items;
    const got = items.map((r) => r.username);
    assert.deepEqual(got, names(...expected.map(([u]) => u)));
    const all =
      'following followed_by friends request_outgoing request_incoming blocking blocked_by muting';
    for (const [i, [u, on]] of expected.entries()) {
      const want = Object.fromEntries(all.split(' ').map((k) => [k, on.includes(k)]));
      assert.deepEqual(items[i], { username: u.username, ...want });
    }
  });

  it('takes at most 100 names, requires users and a token', async () => {
    const [me] = await accounts(1);
    const many = (n: number) => Array.from({ length: n }, (_, i) => `nobody${i}`).join(',');
    const max = expectStatus(await call('GET', `/relationships?users=${many(100)}`, me));
    assert.deepEqual(max.json(), { items: [] });
    for (const query of [`?users=${many(101)}`, '']) {
      const res = await call('GET', `/relationships${query}`, me);
      assert.equal(assertProblem(res, 400, 'validation_failed').errors?.[0]?.path, '/users');
    }
    assertProblem(await call('GET', `/relationships?users=${me.username}`), 401, 'unauthorized');
  });
});

describe('GET /users/{u}/followers, /following, /friends', () => {
  it('lists newest first with since', async () => {
    const [t, u1, u2, u3] = await accounts(4);
    const startedAt = Date.now();
    for (const u of [u1, u2, u3]) expectStatus(await follow(u, t));
    expectStatus(await follow(t, u2));
    expectStatus(await follow(t, u1));
    await befriend(t, u3);
    await befriend(t, u1);
    const endedAt = Date.now();
    // Befriending adds only the follows that were missing (t -> u3): it is the newest.
    assert.deepEqual(await listNames('followers', t), names(u3, u2, u1));
    assert.deepEqual(await listNames('following', t), names(u3, u1, u2));
    assert.deepEqual(await listNames('friends', t), names(u1, u3));
    assert.deepEqual(await listNames('friends', u3), names(t));
    const page = expectStatus(await call('GET', `/users/${t.username}/followers`)).json<
      Page<Listed>
    >();
    assert.equal(page.next_cursor, null);
    assert.deepEqual(Object.keys(page.items[0] ?? {}).sort(), LISTED_KEYS);
    const since = page.items.map((i) => Date.parse(i.since));
    assert.deepEqual(
      since,
      since.toSorted((x, y) => y - x),
    );
    for (const s of since) assert.ok(s >= startedAt - 1000 && s <= endedAt + 1000, String(s));
  });

  it('walks every follower exactly once with limit=2 while new followers arrive', async () => {
    const [t, ...rest] = await accounts(10);
    const initial = rest.slice(0, 7);
    const late = rest.slice(7);
    for (const u of initial) expectStatus(await follow(u, t));
    const seen: string[] = [];
    let url: string | null = `${API}/users/${t.username}/followers?limit=2`;
    let pages = 0;
    while (url) {
      const res: Res = expectStatus(await call('GET', url));
      const page = res.json<Page<Listed>>();
      seen.push(...page.items.map((u) => u.username));
      if (++pages === 1) for (const u of late) expectStatus(await follow(u, t));
      if (page.next_cursor === null) {
        assert.equal(res.headers.link, undefined);
        url = null;
      } else {
        assert.equal(page.items.length, 2);
        const link = /^<([^>]+)>; rel="next"$/.exec(String(res.headers.link));
        assert.ok(link, String(res.headers.link));
        assert.equal(new URL(link[1]!, 'http://x').searchParams.get('cursor'), page.next_cursor);
        url = link[1]!;
      }
      assert.ok(pages < 10, 'pagination does not end');
    }
    assert.equal(pages, 4);
    assert.deepEqual(seen, names(...initial).reverse());
    assert.deepEqual(await listNames('followers', t), names(...initial, ...late).reverse());
  });

  for (const kind of ['followers', 'following', 'friends']) {
    it(`${kind}: 404 for an unknown user, 400 invalid_cursor for a bad cursor`, async () => {
      const ghost = await call('GET', `/users/${uniqueUsername('ghost')}/${kind}`);
      assertProblem(ghost, 404, 'user_not_found');
      const [t] = await accounts(1);
      for (const cursor of ['!!!', cursorOf({ x: 1 }), cursorOf({ t: 1, id: 2 })]) {
        const res = await call('GET', `/users/${t.username}/${kind}?cursor=${cursor}`);
        assertProblem(res, 400, 'invalid_cursor');
      }
    });
  }

  it('answers a cursor of the right shape but with nonsense values with 400 invalid_cursor', async () => {
    const [t] = await accounts(1);
    const cursors = [
      cursorOf({ t: 'yesterday', id: '00000000-0000-0000-0000-000000000000' }),
      cursorOf({ t: new Date().toISOString(), id: 'not-a-uuid' }),
    ];
    const got: string[] = [];
    for (const kind of ['followers', 'following', 'friends']) {
      for (const cursor of cursors) {
        const res = await call('GET', `/users/${t.username}/${kind}?cursor=${cursor}`);
        got.push(`${kind}: ${res.statusCode} ${res.json<{ code: string }>().code}`);
      }
    }
    assert.deepEqual(
      got,
      got.map((g) => g.replace(/: .*/, ': 400 invalid_cursor')),
    );
  });
});

describe('GET /me/suggestions', () => {
  it('ranks friends of friends by mutual friends, excluding self, friends and blocks', async () => {
    const [me, f1, f2, f3, c1, c2, c3, cb, cbb] = await accounts(9);
    for (const f of [f1, f2, f3]) await befriend(me, f);
    await befriend(f1, f2);
    await befriend(f1, c2);
    await befriend(f2, c2);
    await befriend(f3, c1);
    expectStatus(await follow(f3, c3));
    await befriend(f1, cb);
    await befriend(f2, cbb);
    expectStatus(await block(me, cb));
    expectStatus(await block(cbb, me));

    type Suggestion = { user: { username: string }; mutual_friends: number };
    const res = expectStatus(await call('GET', '/me/suggestions', me));
    const got = res.json<Page<Suggestion>>();
    const ranked = got.items.map((s) => `${s.user.username}:${s.mutual_friends}`);
    assert.deepEqual(ranked, [`${c2.username}:2`, `${c1.username}:1`]);
    assert.equal(got.next_cursor, null);

    const walked: string[] = [];
    let cursor: string | null = '';
    for (let i = 0; cursor !== null && i < 5; i++) {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const page: Page<Suggestion> = expectStatus(
        await call('GET', `/me/suggestions?limit=1${q}`, me),
      ).json();
      walked.push(...page.items.map((s) => s.user.username));
      cursor = page.next_cursor;
    }
    assert.deepEqual(walked, names(c2, c1));
    assertProblem(await call('GET', '/me/suggestions'), 401, 'unauthorized');
  });
});

describe('counts under concurrency', () => {
  it('15 concurrent follows and unfollows of one user', async () => {
    const [t, ...fans] = await accounts(16);
    for (const r of await Promise.all(fans.map((f) => follow(f, t)))) {
      assert.deepEqual(state(r), { following: true, changed: true });
    }
    assert.deepEqual(await counts(t), ['15/0/0']);
    assert.equal((await listNames('followers', t)).length, 15);
    for (const r of await Promise.all(fans.map((f) => unfollow(f, t)))) {
      assert.deepEqual(state(r), { following: false, changed: true });
    }
    assert.deepEqual(await counts(t, ...fans.slice(0, 2)), ['0/0/0', '0/0/0', '0/0/0']);
  });

  it('a block racing a follow leaves no follow behind', async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const [a, b] = await accounts(2);
      const [blocked, followed] = await Promise.all([block(a, b), follow(b, a)]);
      expectStatus(blocked);
      // The follow may come first (then be severed) or second (403); it must not outlive it.
      if (followed.statusCode !== 200) assertProblem(followed, 403, 'blocked');
      outcomes.push(`${(await flags(a, b)).join(' ')} ${(await counts(a, b)).join(' ')}`);
    }
    assert.deepEqual(outcomes, Array(5).fill('blocking 0/0/0 0/0/0'));
  });

  it('two users following each other at the same moment', async () => {
    const [a, b] = await accounts(2);
    for (let i = 0; i < 5; i++) {
      for (const r of await Promise.all([follow(a, b), follow(b, a)])) expectStatus(r);
      assert.deepEqual(await counts(a, b), ['1/1/0', '1/1/0']);
      for (const r of await Promise.all([unfollow(a, b), unfollow(b, a)])) expectStatus(r);
      assert.deepEqual(await counts(a, b), ['0/0/0', '0/0/0']);
    }
  });
});
