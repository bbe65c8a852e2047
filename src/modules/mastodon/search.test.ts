/**
 * Mastodon's `/api/v2/search` and `/api/v1/accounts/search` over kith's search: the three kinds
 * of results, `type`, `offset`, `account_id`, `following`, a status found by its URL, and what
 * is never found (posts the viewer may not see, users in a block with them, muted authors).
 */
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
type Result = { accounts: Json[]; statuses: Json[]; hashtags: Json[] };
const call = (who: Account | null, url: string) => app.inject({ url, headers: { ...who?.auth } });
async function ok<T = Json>(res: Promise<Res>, status = 200): Promise<T> {
  const r = await res;
  assert.equal(r.statusCode, status, r.body);
  return r.json<T>();
}
const search = (who: Account | null, query: string) =>
  ok<Result>(call(who, `/api/v2/search?${query}`));
const ids = (list: Json[]) => list.map((x) => x.id);
let n = 0;
const word = () => `zq${Date.now().toString(36)}w${n++}`;

describe('Mastodon search', () => {
  it('finds statuses, accounts and hashtags the viewer may see', async () => {
    const { ana, ben, viewer } = await m().users('ana', 'ben', 'viewer');
    const w = word();
    const pub = await m().post(ana, { text: `${w} in public #${w}` });
    await m().post(ana, { text: `${w} for followers`, visibility: 'followers' });
    const friends = await m().post(ben, { text: `${w} for friends`, visibility: 'friends' });
    await m().befriend(ben, viewer);

    const all = await search(viewer, `q=${w}`);
    assert.deepEqual(new Set(ids(all.statuses)), new Set([pub.id, friends.id]));
    assert.deepEqual(
      all.hashtags.map((t) => t.name),
      [w],
    );
    assert.equal((all.hashtags[0] as { history: unknown[] }).history.length, 7);
    assert.deepEqual(all.accounts, []);
    const anonymous = await search(null, `q=${w}`);
    assert.deepEqual(ids(anonymous.statuses), [pub.id], 'anonymous: public posts only');

    const people = await search(viewer, `q=${ana.username}&type=accounts`);
    assert.equal(people.accounts[0]!.id, ana.id, 'the exact username first');
    assert.deepEqual(people.statuses, []);
    assert.deepEqual(people.hashtags, []);
    const withHost = await search(viewer, `q=@${ana.username}@localhost&type=accounts`);
    assert.equal(withHost.accounts[0]!.id, ana.id);
    const elsewhere = await search(viewer, `q=@${ana.username}@mastodon.social&type=accounts`);
    assert.deepEqual(elsewhere.accounts, [], 'no federation');

    const byAuthor = await search(viewer, `q=${w}&type=statuses&account_id=${ben.id}`);
    assert.deepEqual(ids(byAuthor.statuses), [friends.id]);
    const tags = await search(viewer, `q=%23${w.slice(0, -1)}&type=hashtags`);
    assert.ok(tags.hashtags.some((t) => t.name === w));
  });

  it('pages with offset and limit, and filters accounts by following', async () => {
    const { ana, viewer } = await m().users('ana', 'viewer');
    const w = word();
    const posts: string[] = [];
    for (let i = 0; i < 5; i++) posts.push((await m().post(ana, { text: `${w} ${i}` })).id);
    const page = (offset: number) =>
      search(viewer, `q=${w}&type=statuses&limit=2&offset=${offset}`).then((r) => ids(r.statuses));
    const seen = [...(await page(0)), ...(await page(2)), ...(await page(4))];
    assert.deepEqual(new Set(seen), new Set(posts));
    assert.equal(seen.length, 5, 'no repeat');
    assert.deepEqual(await page(400), [], 'past the deepest offset: nothing');

    const prefix = ana.username.slice(0, 6);
    const before = await search(viewer, `q=${prefix}&type=accounts&following=true&limit=40`);
    assert.ok(!ids(before.accounts).includes(ana.id));
    await m().follow(viewer, ana);
    const after = await search(viewer, `q=${ana.username}&type=accounts&following=true`);
    assert.deepEqual(ids(after.accounts), [ana.id]);
    const v1 = await ok<Json[]>(call(viewer, `/api/v1/accounts/search?q=${ana.username}`));
    assert.equal(v1[0]!.id, ana.id, 'v1 answers as v2');
  });

  it('finds a status of this server by its URL, only when the viewer may see it', async () => {
    const { ana, viewer } = await m().users('ana', 'viewer');
    const pub = await m().post(ana, { text: 'linked' });
    const hidden = await m().post(ana, { text: 'linked too', visibility: 'followers' });
    const url = (id: string) => encodeURIComponent(`http://localhost:80/@${ana.username}/${id}`);
    assert.deepEqual(ids((await search(viewer, `q=${url(pub.id)}&resolve=true`)).statuses), [
      pub.id,
    ]);
    assert.deepEqual((await search(viewer, `q=${url(hidden.id)}`)).statuses, []);
    const other = encodeURIComponent(`https://elsewhere.example/@${ana.username}/${pub.id}`);
    assert.deepEqual((await search(viewer, `q=${other}&type=statuses`)).statuses, []);
  });

  it('never finds what blocks or mutes hide, either way', async () => {
    const { viewer, blocked, blocker, muted } = await m().users(
      'viewer',
      'blocked',
      'blocker',
      'muted',
    );
    const w = word();
    await m().block(viewer, blocked);
    await m().block(blocker, viewer);
    await m().mute(viewer, muted);
    for (const who of [blocked, blocker, muted]) await m().post(who, { text: `${w} #${w}` });
    const found = await search(viewer, `q=${w}`);
    assert.deepEqual(found.statuses, []);
    assert.deepEqual(found.hashtags, [], 'a tag used only where the viewer may not look');
    for (const who of [blocked, blocker]) {
      const people = await search(viewer, `q=${who.username}&type=accounts`);
      assert.ok(!ids(people.accounts).includes(who.id), who.username);
      const back = await search(who, `q=${viewer.username}&type=accounts`);
      assert.ok(!ids(back.accounts).includes(viewer.id), `${who.username} finds no viewer`);
    }
  });

  it('refuses a search without q (422, as every bad parameter here) and answers nothing for an unknown type', async () => {
    const { viewer } = await m().users('viewer');
    for (const q of ['', 'q=', 'q=%20%20']) {
      const res = await call(viewer, `/api/v2/search?${q}`);
      assert.equal(res.statusCode, 422, q);
      assert.equal(typeof res.json<Json>().error, 'string');
    }
    assert.deepEqual(await search(viewer, 'q=hello&type=lists'), {
      accounts: [],
      statuses: [],
      hashtags: [],
    });
    const long = await call(viewer, `/api/v2/search?q=${'x'.repeat(300)}`);
    assert.equal(long.statusCode, 422, long.body);
  });
});
