import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { createAccount, type Account } from '../../../test/support/factories.ts';
import { assertInvalid, assertProblem } from '../../../test/support/problems.ts';
import { api, cursorOf, type Page } from '../../../test/support/api.ts';

const COMMENT_KEYS = 'author created_at edited_at id post_id text';
const UNKNOWN_ID = '0190a000-0000-7000-8000-000000000000';

type Comment = {
  id: string;
  post_id: string;
  author: { id: string; username: string; display_name: string };
  text: string;
  created_at: string;
  edited_at: string | null;
};
type Viewer = Account | null;

let app: App;
before(async () => {
  ({ app } = await createTestApp());
});

const { call, ok, users, accounts, block, befriend, post } = api(() => app);
const publish = async (a: Account, visibility = 'public') =>
  (await post(a, { text: 'post', visibility })).id;
const send = (postId: string, who: Viewer, payload: object = { text: 'nice' }, headers = {}) =>
  call('POST', `/posts/${postId}/comments`, who, payload, headers);
const comment = (postId: string, who: Account, text = 'nice') =>
  ok<Comment>(send(postId, who, { text }), 201);
const list = (postId: string, who: Viewer = null, query = '') =>
  ok<Page<Comment>>(call('GET', `/posts/${postId}/comments${query}`, who));
const texts = (page: Page<Comment>) => page.items.map((c) => c.text);
/** The post's comment_count, read by its author. */
const count = async (postId: string, author: Account) =>
  (await ok<{ comment_count: number }>(call('GET', `/posts/${postId}`, author))).comment_count;

describe('POST /posts/{id}/comments', () => {
  it('creates a trimmed comment (201) and counts it on the post', async () => {
    const { author, c } = await users('author', 'c');
    const post = await publish(author);
    const res = await send(post, c, { text: '  well\r\nsaid  ' });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json<Comment>();
    assert.equal(Object.keys(body).sort().join(' '), COMMENT_KEYS);
    assert.equal(body.post_id, post);
    assert.deepEqual(body.author, { id: c.id, username: c.username, display_name: c.username });
    assert.equal(body.text, 'well\nsaid');
    assert.equal(body.edited_at, null);
    assert.ok(Math.abs(Date.parse(body.created_at) - Date.now()) < 60_000, body.created_at);
    assert.equal(res.headers['idempotent-replayed'], undefined);
    assert.equal(await count(post, author), 1);
    await comment(post, author, 'x'.repeat(2000));
    assert.equal(await count(post, author), 2);
    assert.deepEqual(texts(await list(post)), ['well\nsaid', 'x'.repeat(2000)]);
  });

  const invalid: [string, object][] = [
    ['missing text', {}],
    ['blank text', { text: ' \n\t ' }],
    ['2,001 characters', { text: 'x'.repeat(2001) }],
    ['a control character', { text: 'a\u0000b' }],
  ];
  for (const [name, payload] of invalid) {
    it(`rejects ${name} with 400 at /text and changes nothing`, async () => {
      const { author, c } = await users('author', 'c');
      const post = await publish(author);
      assertInvalid(await send(post, c, payload), '/text');
      assert.equal(await count(post, author), 0);
      assert.deepEqual((await list(post)).items, []);
    });
  }

  it('is only allowed on posts the commenter can see (404 post_not_found)', async () => {
    const { author, follower, stranger, blocked, blocker } = await users(
      'author',
      'follower',
      'stranger',
      'blocked',
      'blocker',
    );
    await ok(call('POST', `/users/${author.username}/follow`, follower));
    await block(author, blocked);
    await block(blocker, author);
    const pub = await publish(author);
    const fol = await publish(author, 'followers');
    const fri = await publish(author, 'friends');
    for (const [post, who] of [
      [fri, follower],
      [fol, stranger],
      [pub, blocked],
      [pub, blocker],
      [UNKNOWN_ID, stranger],
    ] as const) {
      assertProblem(await send(post, who), 404, 'post_not_found');
    }
    for (const post of [pub, fol, fri]) assert.equal(await count(post, author), 0);
    await comment(fol, follower);
    assert.equal(await count(fol, author), 1);
  });

  it('requires a token, and a well-formed post id', async () => {
    const author = await createAccount(app);
    const post = await publish(author);
    const res = await send(post, null);
    assertProblem(res, 401, 'unauthorized');
    assert.equal(res.headers['www-authenticate'], 'Bearer');
    assertInvalid(await send('not-a-uuid', author), '/id');
    assert.equal(await count(post, author), 0);
  });

  it('replays a retried Idempotency-Key and refuses it for another post or text', async () => {
    const { author, c } = await users('author', 'c');
    const [p1, p2] = [await publish(author), await publish(author)];
    const key = { 'idempotency-key': 'comment-1' };
    const first = await ok<Comment>(send(p1, c, { text: 'once' }, key), 201);
    const again = await send(p1, c, { text: 'once' }, key);
    assert.equal(again.statusCode, 201, again.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.deepEqual(again.json<Comment>(), first);
    const reused = 'idempotency_key_reused';
    assertProblem(await send(p2, c, { text: 'once' }, key), 422, reused);
    assertProblem(await send(p1, c, { text: 'twice' }, key), 422, reused);
    assert.equal(await count(p1, author), 1);
    assert.equal(await count(p2, author), 0);
    assert.deepEqual((await list(p1)).items, [first]);
  });

  it('keeps no key for a refused comment, and creates one for 5 concurrent retries', async () => {
    const { author, c } = await users('author', 'c');
    const post = await publish(author, 'friends');
    const key = { 'idempotency-key': 'retry-me' };
    assertProblem(await send(post, c, { text: 'hi' }, key), 404, 'post_not_found');
    await befriend(c, author);
    const all = await Promise.all(
      Array.from({ length: 5 }, () => send(post, c, { text: 'hi' }, key)),
    );
    for (const r of all) assert.equal(r.statusCode, 201, r.body);
    assert.equal(new Set(all.map((r) => r.json<Comment>().id)).size, 1);
    assert.equal(all.filter((r) => r.headers['idempotent-replayed'] !== 'true').length, 1);
    assert.equal(await count(post, author), 1);
  });

  it('counts exactly when 10 users comment at once', async () => {
    const author = await createAccount(app);
    const commenters = await accounts(10);
    const post = await publish(author);
    const all = await Promise.all(commenters.map((u) => send(post, u, { text: u.username })));
    for (const r of all) assert.equal(r.statusCode, 201, r.body);
    assert.equal(await count(post, author), 10);
    const page = await list(post, null, '?limit=100');
    assert.deepEqual(new Set(texts(page)), new Set(commenters.map((u) => u.username)));
  });
});

describe('GET /posts/{id}/comments', () => {
  it('walks every comment oldest first, once, including those added meanwhile', async () => {
    const { author, c } = await users('author', 'c');
    const post = await publish(author);
    const expected: string[] = [];
    const add = async (text: string) => expected.push((await comment(post, c, text)).text);
    for (let i = 0; i < 5; i++) await add(`c${i}`);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page<Comment> = await list(
        post,
        null,
        `?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      assert.ok(page.items.length <= 2);
      seen.push(...texts(page));
      cursor = page.next_cursor;
      pages += 1;
      if (pages <= 2) await add(`added after page ${pages}`);
      assert.ok(pages < 10, 'pagination does not end');
    } while (cursor);
    assert.deepEqual(seen, expected);
    assert.equal(expected.length, 7);
  });

  it('leaves out comments by users in a block with the viewer', async () => {
    const { author, c1, c2, c3, viewer } = await users('author', 'c1', 'c2', 'c3', 'viewer');
    const post = await publish(author);
    for (const c of [c1, c2, c3]) await comment(post, c, c.username);
    await block(viewer, c2);
    await block(c3, viewer);
    assert.deepEqual(texts(await list(post, viewer)), [c1.username]);
    const all = [c1, c2, c3].map((c) => c.username);
    assert.deepEqual(texts(await list(post, author)), all);
    assert.deepEqual(texts(await list(post)), all);
  });

  it('is 404 for a post the viewer cannot see; anonymous reads public posts', async () => {
    const { author, stranger, blocked } = await users('author', 'stranger', 'blocked');
    const [pub, fol] = [await publish(author), await publish(author, 'followers')];
    await comment(pub, author, 'public');
    await comment(fol, author, 'followers');
    await block(author, blocked);
    assert.deepEqual(texts(await list(pub)), ['public']);
    for (const [post, who] of [
      [fol, null],
      [fol, stranger],
      [pub, blocked],
      [UNKNOWN_ID, author],
    ] as const) {
      assertProblem(await call('GET', `/posts/${post}/comments`, who), 404, 'post_not_found');
    }
    assert.deepEqual(texts(await list(fol, author)), ['followers']);
  });

  const badCursors: [string, string][] = [
    ['not base64 JSON', 'not-a-cursor!!'],
    ['well-shaped with an id that is not a UUID', cursorOf({ id: 'x' })],
  ];
  for (const [name, cursor] of badCursors) {
    it(`rejects a cursor that is ${name} with 400 invalid_cursor`, async () => {
      const post = await publish(await createAccount(app));
      const res = await call('GET', `/posts/${post}/comments?cursor=${cursor}`);
      assertProblem(res, 400, 'invalid_cursor');
    });
  }
});

describe('PATCH /comments/{id}', () => {
  const edit = (id: string, who: Viewer, payload: object) =>
    call('PATCH', `/comments/${id}`, who, payload);

  it("edits the author's comment and sets edited_at", async () => {
    const { author, c } = await users('author', 'c');
    const post = await publish(author);
    const before = await comment(post, c, 'first');
    const after = await ok<Comment>(edit(before.id, c, { text: '  second  ' }));
    assert.equal(after.text, 'second');
    assert.ok(after.edited_at !== null && after.edited_at >= before.created_at);
    assert.deepEqual({ ...after, text: 'first', edited_at: null }, before);
    assert.deepEqual((await list(post)).items, [after]);
  });

  it('refuses others (403 not_author, 404 comment_not_found) and bad text', async () => {
    const { author, c, other, outsider } = await users('author', 'c', 'other', 'outsider');
    await befriend(c, author);
    const pub = await publish(author);
    const fri = await publish(author, 'friends');
    const onPub = await comment(pub, c, 'mine');
    const onFri = await comment(fri, c, 'mine');
    for (const who of [author, other])
      assertProblem(await edit(onPub.id, who, { text: 'hacked' }), 403, 'not_author');
    for (const [id, who] of [
      [onFri.id, outsider],
      [UNKNOWN_ID, c],
    ] as const) {
      assertProblem(await edit(id, who, { text: 'x' }), 404, 'comment_not_found');
    }
    assertProblem(await edit(onPub.id, null, { text: 'x' }), 401, 'unauthorized');
    for (const payload of [{}, { text: '   ' }, { text: 'x'.repeat(2001) }, { text: 'a\u0007' }])
      assertInvalid(await edit(onPub.id, c, payload), '/text');
    assert.deepEqual((await list(pub)).items, [onPub]);
    assert.deepEqual((await list(fri, author)).items, [onFri]);
  });
});

describe('DELETE /comments/{id}', () => {
  const remove = (id: string, who: Viewer) => call('DELETE', `/comments/${id}`, who);

  it("lets the comment's author or the post's author delete, and no one else", async () => {
    const { author, c, other } = await users('author', 'c', 'other');
    const post = await publish(author);
    const [mine, theirs, kept] = [
      await comment(post, c, 'one'),
      await comment(post, c, 'two'),
      await comment(post, other, 'three'),
    ];
    assert.equal(await count(post, author), 3);
    assertProblem(await remove(mine.id, other), 403, 'not_author');
    assertProblem(await remove(kept.id, c), 403, 'not_author');
    assertProblem(await remove(mine.id, null), 401, 'unauthorized');
    assertProblem(await remove(UNKNOWN_ID, author), 404, 'comment_not_found');
    assert.equal(await count(post, author), 3);

    const byCommenter = await remove(mine.id, c);
    assert.equal(byCommenter.statusCode, 204, byCommenter.body);
    assert.equal(byCommenter.body, '');
    assert.equal(await count(post, author), 2);
    assert.equal((await remove(theirs.id, author)).statusCode, 204);
    assert.equal(await count(post, author), 1);
    assert.deepEqual(texts(await list(post)), ['three']);
    assertProblem(await remove(mine.id, c), 404, 'comment_not_found');
    assertProblem(
      await call('PATCH', `/comments/${theirs.id}`, c, { text: 'x' }),
      404,
      'comment_not_found',
    );
    assert.equal(await count(post, author), 1);
  });

  it('decrements once when both authors delete the same comment at once', async () => {
    const { author, c } = await users('author', 'c');
    const post = await publish(author);
    const target = await comment(post, c);
    await comment(post, author, 'stays');
    const [r1, r2] = await Promise.all([remove(target.id, c), remove(target.id, author)]);
    assert.deepEqual([r1.statusCode, r2.statusCode].sort(), [204, 404]);
    assert.equal(await count(post, author), 1);
  });

  it("lets the post's author delete a comment by a user they have since blocked", async () => {
    const { author, troll, reader } = await users('author', 'troll', 'reader');
    const post = await publish(author);
    const abuse = await comment(post, troll, 'abuse');
    await block(author, troll);
    assert.deepEqual(texts(await list(post, reader)), ['abuse']);
    const res = await remove(abuse.id, author);
    assert.equal(res.statusCode, 204, res.body);
    assert.deepEqual(texts(await list(post, reader)), []);
    assert.equal(await count(post, author), 0);
  });
});
