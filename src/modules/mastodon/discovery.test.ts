/**
 * Mastodon's public and tag timelines, tags, followed tags and trends over kith's search
 * services: shapes, paging through absolute Link headers while posts arrive, who sees what
 * (visibility, blocks either way, mutes), anonymous readers, bad input, and the token deciding
 * between kith's answer and Mastodon's on shared paths.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { api, type Res } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { testImage, uploadMedia } from '../../../test/support/media.ts';
import { bearer, registerApp, userToken } from '../../../test/support/oauth-apps.ts';
import type { App } from '../../http/types.ts';

let app: App;
const m = () => api(() => app);
before(async () => {
  ({ app } = await createTestApp());
});

type Json = Record<string, unknown>;
type Status = Json & { id: string; account: { id: string } };
const MASTODON = { 'kith-flavour': 'mastodon' };

/** A Mastodon call: kith login tokens reach Mastodon's answer on shared paths by the header. */
const call = (who: Account | null, method: 'GET' | 'POST' | 'DELETE', url: string) =>
  app.inject({
    method,
    url: url.replace(/^https?:\/\/[^/]+/, ''),
    headers: { ...who?.auth, ...MASTODON },
  });
async function ok<T = Json>(res: Promise<Res>, status = 200): Promise<T> {
  const r = await res;
  assert.equal(r.statusCode, status, r.body);
  return r.json<T>();
}
const get = <T = Json>(who: Account | null, url: string) => ok<T>(call(who, 'GET', url));
const ids = (list: { id: string }[]) => list.map((s) => s.id);
function links(res: Res): Record<string, string> {
  const header = String(res.headers.link ?? '');
  return Object.fromEntries(
    [...header.matchAll(/<([^>]+)>; rel="(\w+)"/g)].map(([, url, rel]) => [rel!, url!]),
  );
}
const write = (who: Account, text: string, visibility = 'public') =>
  m().post<{ id: string }>(who, { text, visibility });
let n = 0;
/** A tag no other test uses. */
const freshTag = () => `t${Date.now().toString(36)}x${n++}`;

/** Every page of `url` through `next` links: the ids in order and how many pages. */
async function pageAll(who: Account | null, url: string) {
  const seen: string[] = [];
  let next: string | undefined = url;
  let pages = 0;
  while (next) {
    const res = await call(who, 'GET', next);
    assert.equal(res.statusCode, 200, res.body);
    seen.push(...ids(res.json<Status[]>()));
    pages++;
    next = links(res).next;
    if (next) assert.match(next, /^http:\/\/localhost(:80)?\/api\/v1\//);
  }
  return { seen, pages };
}

describe('Mastodon public and tag timelines', () => {
  it('serves public posts only, paged with absolute links, with no gap or repeat as posts arrive', async () => {
    const { ana, ben } = await m().users('ana', 'ben');
    const tag = freshTag();
    const mine: string[] = [];
    for (let i = 0; i < 5; i++) mine.push((await write(ana, `public ${i} #${tag}`)).id);
    await write(ana, `followers #${tag}`, 'followers');
    await write(ana, `friends #${tag}`, 'friends');

    // The tag timeline, paged by 2 while new posts arrive between pages.
    const seen: string[] = [];
    let url: string | undefined = `/api/v1/timelines/tag/${tag.toUpperCase()}?limit=2`;
    const arrived: string[] = [];
    while (url) {
      const res = await call(ben, 'GET', url);
      seen.push(...ids(res.json<Status[]>()));
      url = links(res).next;
      arrived.push((await write(ana, `late #${tag}`)).id);
    }
    assert.deepEqual(seen, [...mine].reverse(), 'older pages: no gap, no repeat');
    const prev = await get<Status[]>(ben, `/api/v1/timelines/tag/${tag}?min_id=${mine.at(-1)}`);
    assert.deepEqual(ids(prev), [...arrived].reverse(), 'min_id: what arrived since');

    // The public timeline: the same posts, newest first, nothing but public ones.
    const { seen: all } = await pageAll(ben, '/api/v1/timelines/public?limit=40');
    const ours = all.filter((id) => mine.includes(id) || arrived.includes(id));
    assert.deepEqual(ours, [...mine, ...arrived].reverse());
    const statuses = await get<Status[]>(ben, `/api/v1/timelines/tag/${tag}?limit=40`);
    assert.ok(statuses.every((s) => s.visibility === 'public'));
    assert.equal((statuses[0]!.account as Json).username, ana.username);
    assert.equal(typeof statuses[0]!.content, 'string');
    assert.deepEqual(statuses[0]!.tags, [{ name: tag, url: `http://localhost:80/tags/${tag}` }]);
    const linked = await get<Status>(ben, `/api/v1/statuses/${mine[0]}`);
    assert.equal(
      linked.content,
      `<p>public 0 <a href="http://localhost:80/tags/${tag}" class="mention hashtag" rel="tag">#<span>${tag}</span></a></p>`,
    );
  });

  it('answers since_id, max_id and limit as Mastodon does, and nothing for remote', async () => {
    const { ana } = await m().users('ana');
    const tag = freshTag();
    const mine: string[] = [];
    for (let i = 0; i < 4; i++) mine.push((await write(ana, `#${tag} ${i}`)).id);
    const base = `/api/v1/timelines/tag/${tag}`;
    assert.deepEqual(ids(await get(null, `${base}?since_id=${mine[1]}`)), [mine[3], mine[2]]);
    assert.deepEqual(ids(await get(null, `${base}?max_id=${mine[2]}&limit=1`)), [mine[1]]);
    assert.deepEqual(await get(null, `${base}?max_id=nonsense`), []);
    assert.deepEqual(await get(null, `${base}?remote=true`), []);
    assert.deepEqual(await get(null, `/api/v1/timelines/public?remote=true`), []);
    const local = await get<Status[]>(null, `/api/v1/timelines/public?local=true&limit=40`);
    assert.ok(ids(local).includes(mine[3]!), 'every kith post is local');
    assert.deepEqual(await get(null, `${base}?only_media=true`), [], 'no post with media yet');
    const upload = await uploadMedia(app, ana, await testImage('png', 40, 30), {}, 'a.png');
    assert.equal(upload.statusCode, 201, upload.body);
    const pictured = await ok<Status>(
      app.inject({
        method: 'POST',
        url: '/api/v1/statuses',
        headers: ana.auth,
        payload: { status: `#${tag} picture`, media_ids: [upload.json<Json>().id] },
      }),
    );
    assert.deepEqual(ids(await get(null, `${base}?only_media=true`)), [pictured.id]);
    const pub = await get<Status[]>(null, '/api/v1/timelines/public?only_media=1&limit=40');
    assert.ok(pub.every((s) => (s.media_attachments as unknown[]).length > 0));
    assert.ok(ids(pub).includes(pictured.id));
  });

  it('leaves out posts of users in a block with the viewer, either way, and of muted users', async () => {
    const { viewer, blocked, blocker, muted, plain } = await m().users(
      'viewer',
      'blocked',
      'blocker',
      'muted',
      'plain',
    );
    await m().block(viewer, blocked);
    await m().block(blocker, viewer);
    await m().mute(viewer, muted);
    const tag = freshTag();
    for (const who of [blocked, blocker, muted, plain])
      await write(who, `#${tag} by ${who.username}`);
    const authors = async (who: Account | null, url: string) =>
      (await get<Status[]>(who, url)).map((s) => s.account.id);
    const tagUrl = `/api/v1/timelines/tag/${tag}`;
    assert.deepEqual(await authors(viewer, tagUrl), [plain.id]);
    const pub = await authors(viewer, '/api/v1/timelines/public?limit=40');
    for (const hidden of [blocked.id, blocker.id, muted.id]) assert.ok(!pub.includes(hidden));
    assert.ok(pub.includes(plain.id));
    assert.equal((await authors(null, tagUrl)).length, 4, 'anonymous readers see them all');
  });

  it('keeps kith’s answer for kith tokens and anonymous callers on the shared path', async () => {
    const { ana } = await m().users('ana');
    const kith = await app.inject({ url: '/api/v1/timelines/public', headers: ana.auth });
    assert.ok(Array.isArray(kith.json<Json>().items), kith.body);
    const anonymous = await app.inject({ url: '/api/v1/timelines/public' });
    assert.ok(Array.isArray(anonymous.json<Json>().items), 'anonymous: kith’s shape');
    const token = await userToken(app, await registerApp(app), ana);
    const mastodon = await app.inject({ url: '/api/v1/timelines/public', headers: bearer(token) });
    assert.equal(mastodon.statusCode, 200, mastodon.body);
    assert.ok(Array.isArray(mastodon.json()), 'a Mastodon token: Mastodon’s list');
  });
});

describe('Mastodon tags and followed tags', () => {
  it('presents a tag with a week of history and whether the viewer follows it', async () => {
    const { ana, ben } = await m().users('ana', 'ben');
    const tag = freshTag();
    await write(ana, `#${tag} one`);
    await write(ana, `#${tag} two`);
    await write(ben, `#${tag} three`);
    await write(ben, `#${tag} hidden`, 'followers');
    const entity = await get<Json & { history: Json[] }>(
      ana,
      `/api/v1/tags/%23${tag.toUpperCase()}`,
    );
    assert.equal(entity.name, tag);
    assert.equal(entity.url, `http://localhost:80/tags/${tag}`);
    assert.equal(entity.following, false);
    assert.equal(entity.history.length, 7);
    const today = String(Math.floor(Date.now() / 86_400_000) * 86_400);
    assert.deepEqual(entity.history[0], { day: today, uses: '3', accounts: '2' });
    assert.deepEqual(entity.history[6]!.uses, '0');
    const anonymous = await get(null, `/api/v1/tags/${tag}`);
    assert.equal('following' in anonymous, false);

    const followed = await ok<Json>(call(ana, 'POST', `/api/v1/tags/${tag}/follow`));
    assert.equal(followed.following, true);
    assert.equal((await get(ana, `/api/v1/tags/${tag}`)).following, true);
    const again = await ok<Json>(call(ana, 'POST', `/api/v1/tags/${tag}/follow`));
    assert.equal(again.following, true, 'idempotent');
    const unfollowed = await ok<Json>(call(ana, 'POST', `/api/v1/tags/${tag}/unfollow`));
    assert.equal(unfollowed.following, false);
  });

  it('answers 404 for what is no tag, and 401 without a token for following', async () => {
    const { ana } = await m().users('ana');
    for (const bad of ['123', '%21%21', 'a-b'])
      assert.equal((await call(ana, 'GET', `/api/v1/tags/${bad}`)).statusCode, 404, bad);
    const res = await call(ana, 'POST', '/api/v1/tags/123/follow');
    assert.equal(res.statusCode, 404);
    assert.deepEqual(Object.keys(res.json<Json>()), ['error', 'error_description', 'code']);
    assert.equal((await call(ana, 'POST', '/api/v1/tags/123/unfollow')).statusCode, 404);
    assert.equal((await call(null, 'POST', '/api/v1/tags/cats/follow')).statusCode, 401);
    assert.equal((await call(null, 'POST', '/api/v1/tags/cats/unfollow')).statusCode, 401);
    assert.equal((await call(null, 'GET', '/api/v1/followed_tags')).statusCode, 401);
    assert.deepEqual(await get(null, '/api/v1/timelines/tag/123'), [], 'no such tag: empty');
  });

  it('lists followed tags by name through Link paging; the token decides the follow answer', async () => {
    const { ana } = await m().users('ana');
    const names = ['alpha', 'beta', 'gamma'].map((p) => `${p}${freshTag()}`);
    for (const name of names) await ok(call(ana, 'POST', `/api/v1/tags/${name}/follow`));
    const first = await call(ana, 'GET', '/api/v1/followed_tags?limit=2');
    assert.deepEqual(
      first.json<Json[]>().map((t) => t.name),
      names.slice(0, 2),
    );
    assert.ok(first.json<Json[]>().every((t) => t.following === true));
    const next = links(first).next!;
    assert.match(next, /^http:\/\/localhost(:80)?\/api\/v1\/followed_tags\?limit=2&max_id=/);
    const second = await call(ana, 'GET', next);
    assert.deepEqual(
      second.json<Json[]>().map((t) => t.name),
      names.slice(2),
    );
    assert.equal(links(second).next, undefined);

    // kith's own route on the same path, for a kith token.
    const kith = await app.inject({
      method: 'POST',
      url: `/api/v1/tags/${names[0]}/follow`,
      headers: ana.auth,
    });
    assert.equal(kith.json<Json>().changed, false, kith.body);
    const kithList = await app.inject({ url: '/api/v1/followed_tags', headers: ana.auth });
    assert.ok(Array.isArray(kithList.json<Json>().items));
  });
});

describe('Mastodon trends', () => {
  it('lists trending tags as Tag entities with daily history, without blocked authors', async () => {
    const { ana, ben, cleo, viewer } = await m().users('ana', 'ben', 'cleo', 'viewer');
    const tag = `trend${freshTag()}`;
    for (const who of [ana, ben, cleo]) await write(who, `#${tag}`);
    await m().block(viewer, cleo);
    const find = async (who: Account | null) =>
      (await get<(Json & { history: Json[] })[]>(who, '/api/v1/trends/tags?limit=20')).find(
        (t) => t.name === tag,
      );
    const all = await find(null);
    assert.ok(all, 'trending');
    assert.equal(all.history[0]!.accounts, '3');
    assert.equal(all.history[0]!.uses, '3');
    assert.equal(typeof all.history[0]!.day, 'string');
    const seenByViewer = await find(viewer);
    assert.equal(seenByViewer?.history[0]!.accounts, '2', 'the blocked author is not counted');
    const kith = await app.inject({ url: '/api/v1/trends/tags' });
    assert.ok(Array.isArray(kith.json()), kith.body);
    assert.ok(kith.json<Json[]>().every((t) => !('following' in t)));
  });
});
