import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { api, type Res } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { App } from '../../http/types.ts';

let app: App;
const m = () => api(() => app);
before(async () => {
  ({ app } = await createTestApp());
});

type Json = Record<string, unknown>;
const call = (
  who: Account | null,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  payload?: object,
  headers: Record<string, string> = {},
) =>
  app.inject({
    method,
    url: url.replace(/^http:\/\/localhost:80/, ''),
    headers: { ...who?.auth, ...headers },
    ...(payload ? { payload } : {}),
  });
async function ok<T = Json>(res: Promise<Res>): Promise<T> {
  const r = await res;
  assert.equal(r.statusCode, 200, r.body);
  return r.json<T>();
}
const postAs = (who: Account, status: string, extra: Json = {}) =>
  ok<Json & { id: string }>(call(who, 'POST', '/api/v1/statuses', { status, ...extra }));

/** The `rel` links of a Link header: absolute URLs. */
function links(res: Res): Record<string, string> {
  const header = String(res.headers.link ?? '');
  return Object.fromEntries(
    [...header.matchAll(/<([^>]+)>; rel="(\w+)"/g)].map(([, url, rel]) => [rel!, url!]),
  );
}

describe('Mastodon statuses and paging', () => {
  it('pages an account’s statuses to the end through absolute Link headers', async () => {
    const [ana] = await m().accounts(1);
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push((await postAs(ana, `post ${i}`)).id);
    const newest = [...ids].reverse();
    const seen: string[] = [];
    let url: string | undefined = `/api/v1/accounts/${ana.id}/statuses?limit=10`;
    let pages = 0;
    while (url) {
      const res = await call(null, 'GET', url);
      const page = res.json<{ id: string }[]>();
      seen.push(...page.map((s) => s.id));
      pages++;
      const next = links(res).next;
      if (next)
        assert.match(
          next,
          /^http:\/\/localhost(:80)?\/api\/v1\/accounts\/[^?]+\/statuses\?limit=10&max_id=/,
        );
      url = next;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, newest);
    const base = `/api/v1/accounts/${ana.id}/statuses?limit=2`;
    const at = newest.indexOf(ids[3]!);
    const idsOf = async (q: string) =>
      (await ok<{ id: string }[]>(call(null, 'GET', `${base}&${q}`))).map((s) => s.id);
    assert.deepEqual(await idsOf(`max_id=${ids[3]}`), newest.slice(at + 1, at + 3));
    assert.deepEqual(await idsOf(`since_id=${ids[3]}`), newest.slice(0, 2));
    assert.deepEqual(await idsOf(`min_id=${ids[3]}`), [ids[5], ids[4]]);
    assert.deepEqual(await idsOf('max_id=not-an-id'), []);
    const clamped = await ok<unknown[]>(
      call(null, 'GET', `/api/v1/accounts/${ana.id}/statuses?limit=1000`),
    );
    assert.equal(clamped.length, 25);
    const empty = await call(null, 'GET', `${base}&since_id=${newest[0]}`);
    assert.equal(empty.headers.link, undefined);
  });

  it('maps visibility both ways and refuses what kith would lose', async () => {
    const [ana] = await m().accounts(1);
    assert.equal((await postAs(ana, 'a', { visibility: 'friends' })).visibility, 'private');
    for (const [body, code] of [
      [{ visibility: 'unlisted' }, 'unsupported'],
      [{ visibility: 'direct' }, 'one_to_one_only'], // a message needs its one recipient
      [{ media_ids: ['1'] }, 'validation_failed'],
      [{ spoiler_text: 'cw' }, 'unsupported'],
      [{ poll: { options: ['a', 'b'] } }, 'unsupported'],
    ] as const) {
      const res = await call(ana, 'POST', '/api/v1/statuses', { status: 'x', ...body });
      assert.equal(res.statusCode, 422, JSON.stringify(body));
      assert.equal(res.json().code, code);
    }
    const mine = await ok<unknown[]>(call(ana, 'GET', `/api/v1/accounts/${ana.id}/statuses`));
    assert.equal(mine.length, 1, 'nothing half-written');
  });

  it('creates once per Idempotency-Key', async () => {
    const [ana] = await m().accounts(1);
    const headers = { 'idempotency-key': 'k-1' };
    const [a, b] = await Promise.all([
      call(ana, 'POST', '/api/v1/statuses', { status: 'once' }, headers),
      call(ana, 'POST', '/api/v1/statuses', { status: 'once' }, headers),
    ]);
    assert.equal(a.json().id, b.json().id);
  });

  it('favourites, edits with history and source, deletes with the text back', async () => {
    const [ana, ben] = await m().accounts(2);
    const status = await postAs(ana, 'hello @' + ben.username + ' see https://kith.example/a?b=1');
    assert.equal(
      status.content,
      `<p>hello <span class="h-card"><a href="http://localhost:80/@${ben.username}" class="u-url mention">@<span>${ben.username}</span></a></span> see <a href="https://kith.example/a?b=1" rel="nofollow noopener" target="_blank">https://kith.example/a?b=1</a></p>`,
    );
    assert.deepEqual(
      (status.mentions as Json[]).map((x) => x.id),
      [ben.id],
    );
    const liked = await ok(call(ben, 'POST', `/api/v1/statuses/${status.id}/favourite`));
    assert.equal(liked.favourited, true);
    assert.equal(liked.favourites_count, 1);
    const by = await ok<{ id: string }[]>(
      call(ana, 'GET', `/api/v1/statuses/${status.id}/favourited_by`),
    );
    assert.deepEqual(
      by.map((u) => u.id),
      [ben.id],
    );
    const unliked = await ok(call(ben, 'POST', `/api/v1/statuses/${status.id}/unfavourite`));
    assert.equal(unliked.favourites_count, 0);
    const edited = await ok(
      call(ana, 'PUT', `/api/v1/statuses/${status.id}`, { status: 'second' }),
    );
    assert.equal(edited.content, '<p>second</p>');
    assert.match(String(edited.edited_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const history = await ok<Json[]>(call(ana, 'GET', `/api/v1/statuses/${status.id}/history`));
    assert.equal(history.length, 2);
    assert.match(String(history[0]!.content), /^<p>hello/);
    assert.equal(history[1]!.content, '<p>second</p>');
    const source = await ok(call(ana, 'GET', `/api/v1/statuses/${status.id}/source`));
    assert.deepEqual(source, { id: status.id, text: 'second', spoiler_text: '' });
    const deleted = await ok(call(ana, 'DELETE', `/api/v1/statuses/${status.id}`));
    assert.equal(deleted.text, 'second');
    assert.equal((await call(ana, 'GET', `/api/v1/statuses/${status.id}`)).statusCode, 404);
  });
});

describe('Mastodon accounts and follows', () => {
  it('follows by id, lists followers, and shows it in the home timeline', async () => {
    const [ana, ben] = await m().accounts(2);
    const rel = await ok(call(ana, 'POST', `/api/v1/accounts/${ben.id}/follow`));
    assert.equal(rel.following, true);
    assert.equal(rel.requested, false);
    const followers = await ok<{ id: string }[]>(
      call(null, 'GET', `/api/v1/accounts/${ben.id}/followers`),
    );
    assert.deepEqual(
      followers.map((a) => a.id),
      [ana.id],
    );
    const status = await postAs(ben, 'for my followers', { visibility: 'private' });
    const home = await ok<{ id: string }[]>(call(ana, 'GET', '/api/v1/timelines/home'));
    assert.deepEqual(
      home.map((s) => s.id),
      [status.id],
    );
    const looked = await ok(
      call(null, 'GET', `/api/v1/accounts/lookup?acct=@${ben.username}@localhost`),
    );
    assert.equal(looked.id, ben.id);
    assert.equal(looked.followers_count, 1);
  });

  it('shows incoming friend requests as follow requests; authorize makes mutual follows', async () => {
    const [ana, ben, cy] = await m().accounts(3);
    await m().json('POST', `/users/${ana.username}/friend-request`, ben, undefined, 201);
    await m().json('POST', `/users/${ana.username}/friend-request`, cy, undefined, 201);
    const me = await ok<{ source: Json }>(call(ana, 'GET', '/api/v1/accounts/verify_credentials'));
    assert.equal(me.source.follow_requests_count, 2);
    const requests = await ok<{ id: string }[]>(call(ana, 'GET', '/api/v1/follow_requests'));
    assert.deepEqual(requests.map((a) => a.id).sort(), [ben.id, cy.id].sort());
    const [asked] = await ok<Json[]>(
      call(ben, 'GET', `/api/v1/accounts/relationships?id[]=${ana.id}`),
    );
    assert.equal(asked!.requested, true);
    const accepted = await ok(call(ana, 'POST', `/api/v1/follow_requests/${ben.id}/authorize`));
    assert.deepEqual(
      [accepted.following, accepted.followed_by, (accepted.kith as Json).friends],
      [true, true, true],
    );
    const rejected = await ok(call(ana, 'POST', `/api/v1/follow_requests/${cy.id}/reject`));
    assert.equal(rejected.requested_by, false);
    assert.equal(
      (await call(ana, 'POST', `/api/v1/follow_requests/${cy.id}/authorize`)).statusCode,
      404,
    );
    const unfollow = await call(ana, 'POST', `/api/v1/accounts/${ben.id}/unfollow`);
    assert.equal(unfollow.statusCode, 422);
    assert.equal(unfollow.json().code, 'friends_follow_each_other');
  });

  it('blocks and mutes by id', async () => {
    const [ana, ben] = await m().accounts(2);
    const muted = await ok(call(ana, 'POST', `/api/v1/accounts/${ben.id}/mute`));
    assert.deepEqual([muted.muting, muted.muting_notifications], [true, true]);
    const timed = await call(ana, 'POST', `/api/v1/accounts/${ben.id}/mute`, { duration: 60 });
    assert.equal(timed.statusCode, 422);
    const blocked = await ok(call(ana, 'POST', `/api/v1/accounts/${ben.id}/block`));
    assert.equal(blocked.blocking, true);
    assert.equal((await call(ben, 'GET', `/api/v1/accounts/${ana.id}`)).statusCode, 404);
    const unblocked = await ok(call(ana, 'POST', `/api/v1/accounts/${ben.id}/unblock`));
    assert.equal(unblocked.blocking, false);
  });
});
