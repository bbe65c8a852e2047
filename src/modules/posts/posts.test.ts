import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse as Res } from 'fastify';
import type { App } from '../../http/types.ts';
import { createTestApp, type TestApp } from '../../../test/support/harness.ts';
import { createAccount, uniqueUsername, type Account } from '../../../test/support/factories.ts';
import { assertInvalid, assertProblem } from '../../../test/support/problems.ts';
import { api, cursorOf, type Page } from '../../../test/support/api.ts';

const API = '/api/v1';
const POST_KEYS =
  'author comment_count created_at edited_at id like_count liked media tags text visibility';
const VERSION_KEYS = 'id replaced_at text visibility written_at';

type Post = {
  id: string;
  author: { id: string; username: string; display_name: string };
  text: string;
  visibility: string;
  like_count: number;
  comment_count: number;
  liked: boolean;
  created_at: string;
  edited_at: string | null;
};
type Version = Record<'id' | 'text' | 'visibility' | 'written_at' | 'replaced_at', string>;
type LikeState = { liked: boolean; like_count: number; changed: boolean };
type Viewer = Account | null;
type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

let app: App;
let db: TestApp['ctx']['database']['db'];
before(async () => {
  const t = await createTestApp();
  app = t.app;
  db = t.ctx.database.db;
});

const notFound = (res: Res) => assertProblem(res, 404, 'post_not_found');
const { call, ok, users, follow, block, befriend, post } = api(() => app);
const publish = (a: Account, payload?: object) => post<Post>(a, payload);
const read = (id: string, who: Viewer = null) => call('GET', `/posts/${id}`, who);
/** `a`'s post count as `who` sees it: the posts `who` may see. */
const postCount = async (a: Account, who: Viewer = null) =>
  (await ok<{ post_count: number }>(call('GET', `/users/${a.username}`, who))).post_count;
const feed = (a: Account, who: Viewer, query = '') =>
  ok<Page<Post>>(call('GET', `/users/${a.username}/posts${query}`, who));
const likeCount = async (id: string, who: Account) => (await ok<Post>(read(id, who))).like_count;
const names = (page: Page<{ username: string }>) => page.items.map((u) => u.username);
const texts = (items: Post[]) => items.map((p) => p.text);
const keys = (o: object) => Object.keys(o).sort().join(' ');

/** An author with a public, a followers and a friends post, and one viewer of each kind. */
async function circle() {
  const u = await users('author', 'follower', 'friend', 'stranger', 'blockedByAuthor', 'blocker');
  const { author, follower, friend, blockedByAuthor, blocker } = u;
  await follow(follower, author);
  await befriend(friend, author);
  await block(author, blockedByAuthor);
  await block(blocker, author);
  const pub = await publish(author, { text: 'public' });
  const fol = await publish(author, { text: 'followers', visibility: 'followers' });
  const fri = await publish(author, { text: 'friends', visibility: 'friends' });
  return { ...u, pub, fol, fri };
}

describe('POST /posts', () => {
  it('creates a trimmed public post, 201 with Location, and counts it', async () => {
    const a = await createAccount(app);
    const res = await call('POST', '/posts', a, { text: '  hi there\r\nsecond\tline  ' });
    assert.equal(res.statusCode, 201, res.body);
    const p = res.json<Post>();
    assert.equal(keys(p), POST_KEYS);
    assert.equal(res.headers.location, `${API}/posts/${p.id}`);
    assert.deepEqual(p.author, { id: a.id, username: a.username, display_name: a.username });
    assert.equal(p.text, 'hi there\nsecond\tline');
    assert.equal(p.visibility, 'public');
    assert.deepEqual([p.like_count, p.comment_count, p.liked, p.edited_at], [0, 0, false, null]);
    assert.ok(Math.abs(Date.parse(p.created_at) - Date.now()) < 60_000, p.created_at);
    assert.equal(res.headers['idempotent-replayed'], undefined);
    assert.deepEqual(await ok<Post>(app.inject({ url: String(res.headers.location) })), p);
    assert.equal(await postCount(a), 1);
    await publish(a, { text: 'two', visibility: 'friends' });
    assert.equal(await postCount(a, a), 2);
    assert.equal(await postCount(a), 1, 'anonymous viewers count the public posts only');
  });

  it('accepts 5,000 characters after trimming, counting characters not bytes', async () => {
    const a = await createAccount(app);
    assert.equal((await publish(a, { text: ` ${'a'.repeat(5000)}\n` })).text.length, 5000);
    assert.equal((await publish(a, { text: '😀'.repeat(5000) })).text, '😀'.repeat(5000));
  });

  const invalid: [string, object, string][] = [
    ['missing text', {}, '/text'],
    ['empty text', { text: '' }, '/text'],
    ['whitespace-only text', { text: ' \n\t ' }, '/text'],
    ['5,001 characters after trimming', { text: ` ${'a'.repeat(5001)} ` }, '/text'],
    ['5,001 emoji', { text: '😀'.repeat(5001) }, '/text'],
    ['a NUL character', { text: 'a\u0000b' }, '/text'],
    ['a bell character', { text: 'ring\u0007' }, '/text'],
    ['a zero-width space', { text: 'a\u200bb' }, '/text'],
    ['an unknown visibility', { text: 'x', visibility: 'secret' }, '/visibility'],
  ];
  for (const [name, payload, path] of invalid) {
    it(`rejects ${name} with 400 at ${path} and creates nothing`, async () => {
      const a = await createAccount(app);
      assertInvalid(await call('POST', '/posts', a, payload), path);
      assert.equal(await postCount(a), 0);
    });
  }

  it('requires a token', async () => {
    const res = await call('POST', '/posts', null, { text: 'x' });
    assertProblem(res, 401, 'unauthorized');
    assert.equal(res.headers['www-authenticate'], 'Bearer');
  });
});

describe('POST /posts with Idempotency-Key', () => {
  const keyed = (a: Account, key: string, payload: object = { text: 'once' }) =>
    call('POST', '/posts', a, payload, { 'idempotency-key': key });

  it('replays the first post for the same key and body, and creates one', async () => {
    const a = await createAccount(app);
    const first = await keyed(a, 'key-1');
    assert.equal(first.statusCode, 201, first.body);
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const again = await keyed(a, 'key-1');
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(again.json<Post>().id, first.json<Post>().id);
    assert.equal(await postCount(a), 1);
    assert.equal((await feed(a, a)).items.length, 1);
  });

  it('refuses the same key with a different body: 422 idempotency_key_reused', async () => {
    const a = await createAccount(app);
    await ok(keyed(a, 'key-2', { text: 'first' }), 201);
    assertProblem(await keyed(a, 'key-2', { text: 'second' }), 422, 'idempotency_key_reused');
    assert.equal(await postCount(a), 1);
  });

  it("keeps each user's keys independent", async () => {
    const { a, b } = await users('a', 'b');
    const ra = await keyed(a, 'shared');
    const rb = await keyed(b, 'shared');
    assert.equal(rb.statusCode, 201, rb.body);
    assert.equal(rb.headers['idempotent-replayed'], undefined);
    assert.notEqual(rb.json<Post>().id, ra.json<Post>().id);
    assert.equal(rb.json<Post>().author.id, b.id);
    assert.equal(await postCount(b), 1);
  });

  it('rejects a key over 255 characters or with a space: 400 invalid_idempotency_key', async () => {
    const a = await createAccount(app);
    for (const key of ['k'.repeat(300), 'k'.repeat(256), 'has space'])
      assertProblem(await keyed(a, key), 400, 'invalid_idempotency_key');
    assert.equal(await postCount(a), 0);
    await ok(keyed(a, 'k'.repeat(255)), 201);
  });

  it('creates exactly one post for 5 concurrent requests with the same key', async () => {
    const a = await createAccount(app);
    const all = await Promise.all(Array.from({ length: 5 }, () => keyed(a, 'race')));
    for (const r of all) assert.equal(r.statusCode, 201, r.body);
    assert.equal(new Set(all.map((r) => r.json<Post>().id)).size, 1);
    assert.equal(all.filter((r) => r.headers['idempotent-replayed'] !== 'true').length, 1);
    assert.equal(await postCount(a), 1);
    assert.equal((await feed(a, a)).items.length, 1);
  });
});

describe('who may see a post', () => {
  let c: Awaited<ReturnType<typeof circle>>;
  before(async () => {
    c = await circle();
  });
  const cases: [string, () => Viewer, string[]][] = [
    ['anonymous', () => null, ['public']],
    ['the author', () => c.author, ['friends', 'followers', 'public']],
    ['a follower', () => c.follower, ['followers', 'public']],
    ['a friend', () => c.friend, ['friends', 'followers', 'public']],
    ['a stranger', () => c.stranger, ['public']],
    ['a user the author blocked', () => c.blockedByAuthor, []],
    ['a user who blocked the author', () => c.blocker, []],
  ];
  for (const [name, viewer, visible] of cases) {
    it(`GET /posts/{id} as ${name}`, async () => {
      for (const p of [c.pub, c.fol, c.fri]) {
        const res = await read(p.id, viewer());
        if (!visible.includes(p.text)) notFound(res);
        else assert.deepEqual(await ok<Post>(Promise.resolve(res)), p);
      }
    });

    if (visible.length === 0) {
      // In a block with the author, either way: the author is not found.
      it(`GET /users/{username}/posts as ${name}: 404 user_not_found`, async () => {
        const res = await call('GET', `/users/${c.author.username}/posts`, viewer());
        assertProblem(res, 404, 'user_not_found');
      });
      continue;
    }
    it(`GET /users/{username}/posts as ${name}: the visible posts, newest first`, async () => {
      const page = await feed(c.author, viewer());
      assert.deepEqual(texts(page.items), visible);
      assert.equal(page.next_cursor, null);
    });
  }

  it('answers an unknown id with 404 and a malformed id with 400', async () => {
    notFound(await read('0190a000-0000-7000-8000-000000000000'));
    assertInvalid(await read('not-a-uuid'), '/id');
  });
});

describe('PATCH /posts/{id} and history', () => {
  const patch = (id: string, who: Viewer, payload: object) =>
    call('PATCH', `/posts/${id}`, who, payload);
  const history = (id: string, who: Viewer = null) =>
    ok<Page<Version>>(call('GET', `/posts/${id}/history`, who));

  it('edits, sets edited_at and keeps previous versions newest first', async () => {
    const a = await createAccount(app);
    const p = await publish(a, { text: 'first' });
    const e1 = await ok<Post>(patch(p.id, a, { text: '  second ' }));
    assert.equal(e1.text, 'second');
    assert.ok(e1.edited_at !== null && e1.edited_at >= p.created_at, String(e1.edited_at));
    assert.equal(e1.created_at, p.created_at);
    const e2 = await ok<Post>(patch(p.id, a, { visibility: 'followers' }));
    assert.deepEqual([e2.text, e2.visibility], ['second', 'followers']);
    assert.ok(e2.edited_at !== null && e2.edited_at >= e1.edited_at);
    assert.deepEqual(await ok<Post>(read(p.id, a)), e2);

    const [v1, v0] = (await history(p.id, a)).items;
    assert.equal(keys(v1!), VERSION_KEYS);
    assert.deepEqual(
      [v1!.text, v1!.visibility, v1!.written_at],
      ['second', 'public', e1.edited_at],
    );
    assert.deepEqual([v0!.text, v0!.visibility, v0!.written_at], ['first', 'public', p.created_at]);
    assert.ok(v1!.replaced_at >= v0!.replaced_at && v0!.replaced_at >= p.created_at);
  });

  it('only the author may edit: 403 not_author if they can see it, else 404', async () => {
    const c = await circle();
    assertProblem(await patch(c.pub.id, c.stranger, { text: 'x' }), 403, 'not_author');
    notFound(await patch(c.fri.id, c.follower, { text: 'x' }));
    notFound(await patch(c.pub.id, c.blocker, { text: 'x' }));
    assertProblem(await patch(c.pub.id, null, { text: 'x' }), 401, 'unauthorized');
    assert.deepEqual(await ok<Post>(read(c.pub.id)), c.pub);
    assert.deepEqual((await history(c.pub.id)).items, []);
  });

  it('hides the post from a non-friend once made friends-only', async () => {
    const { a, friend, other } = await users('a', 'friend', 'other');
    await befriend(a, friend);
    const p = await publish(a);
    await ok(read(p.id, other));
    await ok(patch(p.id, a, { visibility: 'friends' }));
    notFound(await read(p.id, other));
    notFound(await call('GET', `/posts/${p.id}/history`, other));
    assert.equal((await ok<Post>(read(p.id, friend))).visibility, 'friends');
  });

  it('rejects an empty body or bad fields, and a no-op creates no version', async () => {
    const a = await createAccount(app);
    const p = await publish(a, { text: 'same' });
    assertInvalid(await patch(p.id, a, { text: '   ' }), '/text');
    assertInvalid(await patch(p.id, a, { text: 'b'.repeat(5001) }), '/text');
    assertInvalid(await patch(p.id, a, { visibility: 'nobody' }), '/visibility');
    assertProblem(await patch(p.id, a, {}), 400, 'validation_failed');
    const same = await ok<Post>(patch(p.id, a, { text: ' same ', visibility: 'public' }));
    assert.equal(same.edited_at, null);
    assert.deepEqual(await ok<Post>(read(p.id, a)), p);
    assert.deepEqual((await history(p.id, a)).items, []);
  });
});

describe('DELETE /posts/{id}', () => {
  it('lets the author delete with its likes, comments and history; 404 after', async () => {
    const c = await circle();
    const p = c.pub;
    await ok(call('POST', `/posts/${p.id}/like`, c.friend));
    await ok(call('POST', `/posts/${p.id}/comments`, c.stranger, { text: 'hi' }), 201);
    await ok(call('PATCH', `/posts/${p.id}`, c.author, { text: 'edited' }));
    assert.equal(await postCount(c.author, c.author), 3);

    assertProblem(await call('DELETE', `/posts/${p.id}`, c.stranger), 403, 'not_author');
    notFound(await call('DELETE', `/posts/${c.fri.id}`, c.stranger));
    assertProblem(await call('DELETE', `/posts/${p.id}`, null), 401, 'unauthorized');
    await ok(read(c.fri.id, c.author));

    const res = await call('DELETE', `/posts/${p.id}`, c.author);
    assert.equal(res.statusCode, 204, res.body);
    assert.equal(res.body, '');
    for (const who of [null, c.author, c.friend, c.stranger]) notFound(await read(p.id, who));
    for (const sub of ['likes', 'comments', 'history'])
      notFound(await call('GET', `/posts/${p.id}/${sub}`));
    notFound(await call('DELETE', `/posts/${p.id}`, c.author));
    const ids = (await feed(c.author, c.author)).items.map((x) => x.id);
    assert.deepEqual(ids, [c.fri.id, c.fol.id]);
    assert.equal(await postCount(c.author, c.author), 2);
    for (const table of ['likes', 'comments', 'post_versions'] as const) {
      const rows = db.selectFrom(table).select('post_id').where('post_id', '=', p.id);
      assert.equal((await rows.execute()).length, 0, table);
    }
  });
});

describe('likes', () => {
  const like = (id: string, who: Viewer, method: Method = 'POST') =>
    call(method, `/posts/${id}/like`, who);
  const likers = (id: string, who: Viewer = null, query = '') =>
    ok<Page<{ username: string }>>(call('GET', `/posts/${id}/likes${query}`, who));

  it('is idempotent both ways, and `liked` is true for the liker only', async () => {
    const { a, l } = await users('a', 'l');
    const p = await publish(a);
    const states = [];
    for (const method of ['POST', 'POST', 'DELETE', 'DELETE', 'POST'] as const)
      states.push(await ok(like(p.id, l, method)));
    assert.deepEqual(states, [
      { liked: true, like_count: 1, changed: true },
      { liked: true, like_count: 1, changed: false },
      { liked: false, like_count: 0, changed: true },
      { liked: false, like_count: 0, changed: false },
      { liked: true, like_count: 1, changed: true },
    ]);
    const liked = async (who: Viewer) => (await ok<Post>(read(p.id, who))).liked;
    assert.deepEqual([await liked(l), await liked(a), await liked(null)], [true, false, false]);
    assert.equal((await feed(a, l)).items[0]!.liked, true);
  });

  it('refuses posts you cannot see with 404 and anonymous users with 401', async () => {
    const c = await circle();
    notFound(await like(c.fri.id, c.follower));
    notFound(await like(c.pub.id, c.blockedByAuthor));
    notFound(await like(c.pub.id, c.blocker, 'DELETE'));
    assertProblem(await like(c.pub.id, null), 401, 'unauthorized');
    assert.equal(await likeCount(c.fri.id, c.author), 0);
    assert.equal(await likeCount(c.pub.id, c.author), 0);
  });

  it('lists likers newest first, paged, hiding users in a block with the viewer', async () => {
    const { a, l1, l2, l3, viewer } = await users('a', 'l1', 'l2', 'l3', 'viewer');
    const p = await publish(a);
    for (const l of [l1, l2, l3]) await ok(like(p.id, l));
    const all = [l3, l2, l1].map((u) => u.username);
    const first = await likers(p.id, null, '?limit=2');
    assert.equal(keys(first.items[0]!), 'display_name id liked_at username');
    const rest = await likers(p.id, null, `?limit=2&cursor=${first.next_cursor}`);
    assert.deepEqual([...names(first), ...names(rest)], all);
    assert.equal(rest.next_cursor, null);
    await block(viewer, l2);
    await block(l3, viewer);
    assert.deepEqual(names(await likers(p.id, viewer)), [l1.username]);
    assert.deepEqual(names(await likers(p.id, a)), all);
    assert.deepEqual(names(await likers(p.id)), all);
  });

  it('counts exactly under concurrency: 20 users like, then unlike, at once', async () => {
    const a = await createAccount(app);
    const likers20 = await Promise.all(Array.from({ length: 20 }, () => createAccount(app)));
    const p = await publish(a);
    for (const [method, expected] of [
      ['POST', 20],
      ['DELETE', 0],
    ] as const) {
      const all = await Promise.all(likers20.map((u) => like(p.id, u, method)));
      for (const r of all) assert.equal(r.statusCode, 200, r.body);
      assert.ok(all.every((r) => r.json<LikeState>().changed));
      assert.equal(await likeCount(p.id, a), expected);
      assert.equal((await likers(p.id, null, '?limit=100')).items.length, expected);
    }
  });

  /** One user likes (or, having liked, unlikes) a post 10 times at once. */
  async function likeStorm(method: 'POST' | 'DELETE') {
    const { a, l } = await users('a', 'l');
    const p = await publish(a);
    if (method === 'DELETE') await ok(like(p.id, l));
    const all = await Promise.all(Array.from({ length: 10 }, () => like(p.id, l, method)));
    for (const r of all) assert.equal(r.statusCode, 200, r.body);
    return { count: await likeCount(p.id, a), states: all.map((r) => r.json<LikeState>()) };
  }

  it('counts one like when a user likes 10 times at once, none after 10 unlikes', async () => {
    for (const method of ['POST', 'DELETE'] as const) {
      const { count, states } = await likeStorm(method);
      assert.equal(states.filter((s) => s.changed).length, 1, method);
      assert.ok(
        states.every((s) => s.liked === (method === 'POST')),
        method,
      );
      assert.equal(count, method === 'POST' ? 1 : 0);
    }
  });

  it('answers every concurrent repeat with the resulting like_count', async () => {
    for (const method of ['POST', 'DELETE'] as const) {
      const { count, states } = await likeStorm(method);
      assert.deepEqual([...new Set(states.map((s) => s.like_count))], [count], method);
    }
  });
});

describe('GET /users/{username}/posts', () => {
  it('walks every post once while the author keeps publishing', async () => {
    const a = await createAccount(app);
    const initial: string[] = [];
    for (let i = 0; i < 5; i++) initial.push((await publish(a, { text: `p${i}` })).id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page<Post> = await feed(a, null, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((p) => p.id));
      cursor = page.next_cursor;
      pages += 1;
      await publish(a, { text: `new after page ${pages}` });
      assert.ok(pages < 10, 'pagination does not end');
    } while (cursor);
    assert.deepEqual(seen, initial.reverse());
    assert.equal(pages, 3);
  });

  it('pages through only the posts the viewer may see', async () => {
    const c = await circle();
    const page1 = await feed(c.author, c.follower, '?limit=1');
    const page2 = await feed(c.author, c.follower, `?limit=1&cursor=${page1.next_cursor}`);
    assert.deepEqual(texts([...page1.items, ...page2.items]), ['followers', 'public']);
    assert.equal(page2.next_cursor, null);
  });

  it('answers an unknown user with 404 user_not_found', async () => {
    const res = await call('GET', `/users/${uniqueUsername('ghost')}/posts`);
    assertProblem(res, 404, 'user_not_found');
  });

  const badCursors: [string, string][] = [
    ['not base64 JSON', 'not-a-cursor!!'],
    ['JSON of the wrong shape', cursorOf({ t: 1 })],
    ['well-shaped with an id that is not a UUID', cursorOf({ id: 'x' })],
  ];
  for (const [name, cursor] of badCursors) {
    it(`rejects a cursor that is ${name} with 400 invalid_cursor`, async () => {
      const a = await createAccount(app);
      const res = await call('GET', `/users/${a.username}/posts?cursor=${cursor}`);
      assertProblem(res, 400, 'invalid_cursor');
    });
  }
});
