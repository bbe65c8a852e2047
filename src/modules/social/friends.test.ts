import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { App } from '../../http/types.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { uniqueUsername, type Account } from '../../../test/support/factories.ts';
import { assertProblem } from '../../../test/support/problems.ts';
import { api, cursorOf, expectStatus, type Page } from '../../../test/support/api.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
type Res = LightMyRequestResponse;
interface FriendRequest {
  id: string;
  from: { id: string; username: string; display_name: string };
  to: { id: string; username: string; display_name: string };
  status: string;
  created_at: string;
  responded_at: string | null;
}

let app: App;
before(async () => {
  ({ app } = await createTestApp());
});

const { call, accounts, counts, flags } = api(() => app);
const friendRequest = (a: Account, b: Account) =>
  call('POST', `/users/${b.username}/friend-request`, a);
const answer = (who: Account, id: string, action: 'accept' | 'decline') =>
  call('POST', `/friend-requests/${id}/${action}`, who);
const cancel = (who: Account, id: string) => call('DELETE', `/friend-requests/${id}`, who);
const unfriend = (a: Account, b: Account) => call('DELETE', `/friends/${b.username}`, a);
const summary = (a: Account) => ({ id: a.id, username: a.username, display_name: a.username });

/** Sends a friend request that must be created; returns its id. */
async function request(a: Account, b: Account): Promise<string> {
  return expectStatus(await friendRequest(a, b), 201).json<FriendRequest>().id;
}

async function pending(a: Account, query: string): Promise<Page<FriendRequest>> {
  return expectStatus(await call('GET', `/friend-requests${query}`, a)).json<Page<FriendRequest>>();
}
const idsOf = (page: Page<{ id: string }>) => page.items.map((i) => i.id);
const pendingIds = async (a: Account, direction: 'incoming' | 'outgoing') =>
  idsOf(await pending(a, `?direction=${direction}`));
const listIds = async (kind: string, u: Account) =>
  idsOf(
    expectStatus(await call('GET', `/users/${u.username}/${kind}`)).json<Page<{ id: string }>>(),
  );

const isDate = (s: unknown) => typeof s === 'string' && !Number.isNaN(Date.parse(s));
const FRIENDS = ['followed_by', 'following', 'friends'];
const ONE_FRIEND = '1/1/1';
const ALONE = '0/0/0';

describe('POST /users/{u}/friend-request', () => {
  it('creates a pending request (201), and refuses a second one with 409', async () => {
    const [a, b] = await accounts(2);
    const res = expectStatus(await friendRequest(a, b), 201).json<FriendRequest>();
    assert.match(res.id, UUID);
    assert.ok(isDate(res.created_at), res.created_at);
    assert.deepEqual(res, {
      id: res.id,
      from: summary(a),
      to: summary(b),
      status: 'pending',
      created_at: res.created_at,
      responded_at: null,
    });
    assertProblem(await friendRequest(a, b), 409, 'request_pending');
    assert.deepEqual(await pendingIds(a, 'outgoing'), [res.id]);
    assert.deepEqual(await pendingIds(b, 'incoming'), [res.id]);
    assert.deepEqual(await flags(a, b), ['request_outgoing']);
    assert.deepEqual(await counts(a, b), [ALONE, ALONE]);
  });

  it('refuses self (400), an unknown user (404), anonymous (401) and friends (409)', async () => {
    const [a, b] = await accounts(2);
    assertProblem(await friendRequest(a, a), 400, 'cannot_target_self');
    const ghost = call('POST', `/users/${uniqueUsername('ghost')}/friend-request`, a);
    assertProblem(await ghost, 404, 'user_not_found');
    assertProblem(await call('POST', `/users/${b.username}/friend-request`), 401, 'unauthorized');
    await request(a, b);
    expectStatus(await friendRequest(b, a));
    assertProblem(await friendRequest(a, b), 409, 'already_friends');
    assertProblem(await friendRequest(b, a), 409, 'already_friends');
  });

  it('accepts their request instead (200) when they already asked you', async () => {
    const [a, b] = await accounts(2);
    const id = await request(a, b);
    const res = expectStatus(await friendRequest(b, a)).json<FriendRequest>();
    assert.equal(res.id, id);
    assert.equal(res.status, 'accepted');
    assert.deepEqual([res.from.id, res.to.id], [a.id, b.id]);
    assert.ok(isDate(res.responded_at), String(res.responded_at));
    assert.deepEqual(await flags(a, b), FRIENDS);
    assert.deepEqual(await flags(b, a), FRIENDS);
    assert.deepEqual(await counts(a, b), [ONE_FRIEND, ONE_FRIEND]);
    for (const u of [a, b]) {
      assert.deepEqual(await pendingIds(u, 'incoming'), []);
      assert.deepEqual(await pendingIds(u, 'outgoing'), []);
    }
  });

  it('lets exactly one of 5 identical concurrent requests through (3 rounds)', async () => {
    for (let round = 0; round < 3; round++) {
      const [a, b] = await accounts(2);
      const all = await Promise.all(Array.from({ length: 5 }, () => friendRequest(a, b)));
      const created = all.filter((r) => r.statusCode === 201);
      assert.equal(created.length, 1, all.map((r) => r.body).join('\n'));
      for (const r of all.filter((x) => x.statusCode !== 201)) {
        assertProblem(r, 409, 'request_pending');
      }
      const id = created[0]!.json<FriendRequest>().id;
      assert.deepEqual(await pendingIds(a, 'outgoing'), [id]);
      assert.deepEqual(await pendingIds(b, 'incoming'), [id]);
    }
  });

  it('never leaves two pending requests between two users who ask each other at once', async () => {
    const crossed: string[] = [];
    for (let i = 0; i < 8; i++) {
      const [a, b] = await accounts(2);
      const res = await Promise.all([friendRequest(a, b), friendRequest(b, a)]);
      const f = await flags(a, b);
      if (f.includes('request_incoming') && f.includes('request_outgoing')) {
        crossed.push(`${res.map((r) => r.statusCode).join(',')}: ${f.join(' ')}`);
      }
    }
    assert.deepEqual(crossed, []);
  });
});

describe('GET /friend-requests', () => {
  it('lists pending requests only, newest first, paged; incoming by default', async () => {
    const [r, s1, s2, s3, s4, x] = await accounts(6);
    const ids: string[] = [];
    for (const s of [s1, s2, s3, s4]) ids.push(await request(s, r));
    expectStatus(await answer(r, ids[1]!, 'decline'));
    const out = await request(r, x);

    const first = await pending(r, '?limit=2');
    assert.deepEqual(
      first.items.map((i) => [i.id, i.from.username, i.to.username, i.status]),
      [
        [ids[3], s4.username, r.username, 'pending'],
        [ids[2], s3.username, r.username, 'pending'],
      ],
    );
    assert.ok(first.next_cursor);
    const second = await pending(r, `?direction=incoming&limit=2&cursor=${first.next_cursor}`);
    assert.deepEqual(idsOf(second), [ids[0]]);
    assert.equal(second.next_cursor, null);
    assert.deepEqual(await pendingIds(r, 'incoming'), [ids[3], ids[2], ids[0]]);
    assert.deepEqual(await pendingIds(r, 'outgoing'), [out]);
    assert.deepEqual(await pendingIds(s1, 'outgoing'), [ids[0]]);
    assert.deepEqual(await pendingIds(s2, 'outgoing'), []);
  });

  it('rejects a bad direction (400) and anonymous callers (401)', async () => {
    const [a] = await accounts(1);
    const res = await call('GET', '/friend-requests?direction=sideways', a);
    const body = assertProblem(res, 400, 'validation_failed');
    assert.equal(body.errors?.[0]?.path, '/direction');
    assertProblem(await call('GET', '/friend-requests'), 401, 'unauthorized');
    for (const cursor of ['!!!', cursorOf({ x: 1 })]) {
      assertProblem(
        await call('GET', `/friend-requests?cursor=${cursor}`, a),
        400,
        'invalid_cursor',
      );
    }
  });

  it('answers a cursor of the right shape but a nonsense id with 400 invalid_cursor', async () => {
    const [a] = await accounts(1);
    const res = await call('GET', `/friend-requests?cursor=${cursorOf({ id: 'nope' })}`, a);
    assertProblem(res, 400, 'invalid_cursor');
  });
});

describe('POST /friend-requests/{id}/accept and /decline', () => {
  for (const action of ['accept', 'decline'] as const) {
    it(`${action}: recipient only; 403, 404, 400; answering twice is 409`, async () => {
      const [s, r, t] = await accounts(3);
      const id = await request(s, r);
      assertProblem(await answer(s, id, action), 403, 'not_recipient');
      assertProblem(await answer(t, id, action), 404, 'friend_request_not_found');
      const unknown = '0190a000-0000-7000-8000-000000000000';
      assertProblem(await answer(r, unknown, action), 404, 'friend_request_not_found');
      const bad = assertProblem(await answer(r, 'not-a-uuid', action), 400, 'validation_failed');
      assert.equal(bad.errors?.[0]?.path, '/id');
      assertProblem(await call('POST', `/friend-requests/${id}/${action}`), 401, 'unauthorized');
      assert.deepEqual(await pendingIds(r, 'incoming'), [id]);

      const res = expectStatus(await answer(r, id, action)).json<FriendRequest>();
      assert.equal(res.status, action === 'accept' ? 'accepted' : 'declined');
      assert.deepEqual([res.from, res.to], [summary(s), summary(r)]);
      assert.ok(isDate(res.responded_at), String(res.responded_at));
      for (const again of ['accept', 'decline'] as const) {
        assertProblem(await answer(r, id, again), 409, 'request_not_pending');
      }
      assert.deepEqual(await pendingIds(r, 'incoming'), []);
      assert.deepEqual(await pendingIds(s, 'outgoing'), []);
    });
  }

  it('accept makes them friends and mutual followers', async () => {
    const [s, r] = await accounts(2);
    expectStatus(await answer(r, await request(s, r), 'accept'));
    assert.deepEqual(await flags(s, r), FRIENDS);
    assert.deepEqual(await flags(r, s), FRIENDS);
    assert.deepEqual(await counts(s, r), [ONE_FRIEND, ONE_FRIEND]);
    assert.deepEqual(await listIds('friends', s), [r.id]);
  });

  it('decline leaves them strangers, and the sender may ask again', async () => {
    const [s, r] = await accounts(2);
    expectStatus(await answer(r, await request(s, r), 'decline'));
    assert.deepEqual(await flags(s, r), []);
    assert.deepEqual(await counts(s, r), [ALONE, ALONE]);
    const again = await request(s, r);
    assert.deepEqual(await pendingIds(r, 'incoming'), [again]);
  });
});

describe('DELETE /friend-requests/{id}', () => {
  it('lets the sender cancel (204); the recipient gets 403, a third user 404', async () => {
    const [s, r, t] = await accounts(3);
    const id = await request(s, r);
    assertProblem(await cancel(r, id), 403, 'not_sender');
    assertProblem(await cancel(t, id), 404, 'friend_request_not_found');
    assertProblem(await call('DELETE', `/friend-requests/${id}`), 401, 'unauthorized');
    assert.deepEqual(await pendingIds(r, 'incoming'), [id]);
    const res = expectStatus(await cancel(s, id), 204);
    assert.equal(res.body, '');
    assert.deepEqual(await pendingIds(r, 'incoming'), []);
    assert.deepEqual(await pendingIds(s, 'outgoing'), []);
    assert.deepEqual(await flags(s, r), []);
    assertProblem(await cancel(s, id), 409, 'request_not_pending');
    assertProblem(await answer(r, id, 'accept'), 409, 'request_not_pending');
  });

  it('refuses to cancel an answered request with 409', async () => {
    const [s, r] = await accounts(2);
    const id = await request(s, r);
    expectStatus(await answer(r, id, 'accept'));
    assertProblem(await cancel(s, id), 409, 'request_not_pending');
    assert.deepEqual(await flags(s, r), FRIENDS);
  });
});

describe('DELETE /friends/{u}', () => {
  it('ends the friendship and the follows both ways (204)', async () => {
    const [a, b, c] = await accounts(3);
    expectStatus(await answer(b, await request(a, b), 'accept'));
    expectStatus(await answer(c, await request(a, c), 'accept'));
    const res = expectStatus(await unfriend(b, a), 204);
    assert.equal(res.body, '');
    assert.deepEqual(await flags(a, b), []);
    assert.deepEqual(await counts(a, b, c), [ONE_FRIEND, ALONE, ONE_FRIEND]);
    for (const kind of ['followers', 'following', 'friends']) {
      assert.deepEqual(await listIds(kind, a), [c.id]);
    }
    assertProblem(await unfriend(b, a), 404, 'not_friends');
    assertProblem(await unfriend(a, b), 404, 'not_friends');
  });

  it('answers 404 not_friends for a mere follow, and 404 / 401 otherwise', async () => {
    const [a, b] = await accounts(2);
    expectStatus(await call('POST', `/users/${b.username}/follow`, a));
    assertProblem(await unfriend(a, b), 404, 'not_friends');
    assert.deepEqual(await flags(a, b), ['following']);
    const ghost = call('DELETE', `/friends/${uniqueUsername('ghost')}`, a);
    assertProblem(await ghost, 404, 'user_not_found');
    assertProblem(await call('DELETE', `/friends/${b.username}`), 401, 'unauthorized');
  });
});

describe('failed requests write nothing', () => {
  type Setup = (a: Account, b: Account) => Promise<string>;
  type Op = (a: Account, b: Account, id: string) => Promise<Res>;
  const befriended: Setup = async (a, b) => {
    expectStatus(await answer(b, await request(a, b), 'accept'));
    return '';
  };
  const declined: Setup = async (a, b) => {
    const id = await request(a, b);
    expectStatus(await answer(b, id, 'decline'));
    return id;
  };
  const blockedBy: Setup = async (a, b) => {
    expectStatus(await call('POST', `/users/${a.username}/block`, b));
    return '';
  };
  const bAccepts: Op = (_a, b, id) => answer(b, id, 'accept');
  const aAccepts: Op = (a, _b, id) => answer(a, id, 'accept');
  const cases: [string, string, Setup, Op][] = [
    ['a second request', '409 request_pending', request, friendRequest],
    ['a request to a friend', '409 already_friends', befriended, friendRequest],
    ['accepting a declined request', '409 request_not_pending', declined, bAccepts],
    ['accepting your own request', '403 not_recipient', request, aAccepts],
    ['a request to someone who blocked you', '403 blocked', blockedBy, friendRequest],
  ];
  for (const [name, want, setup, op] of cases) {
    it(`${name} (${want})`, async () => {
      const [a, b] = await accounts(2);
      const id = await setup(a, b);
      const snapshot = async () => ({
        counts: await counts(a, b),
        ab: await flags(a, b),
        ba: await flags(b, a),
        requests: [
          await pendingIds(a, 'incoming'),
          await pendingIds(a, 'outgoing'),
          await pendingIds(b, 'incoming'),
          await pendingIds(b, 'outgoing'),
        ],
      });
      const before = await snapshot();
      const [status, code] = want.split(' ');
      assertProblem(await op(a, b, id), Number(status), code!);
      assert.deepEqual(await snapshot(), before);
    });
  }
});
