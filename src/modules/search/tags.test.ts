import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { Account } from '../../../test/support/factories.ts';
import { assertInvalid } from '../../../test/support/problems.ts';
import { api, type Page } from '../../../test/support/api.ts';

type Post = { id: string; text: string; tags: { name: string; url: string }[] };

/** A 400 with an error of this code at `path`. */
function assertInvalidAt(res: Parameters<typeof assertInvalid>[0], path: string, code: string) {
  const body = assertInvalid(res, path);
  assert.ok(
    body.errors?.some((e) => e.path === path && e.code === code),
    JSON.stringify(body.errors),
  );
}

let app: App;
before(async () => {
  ({ app } = await createTestApp());
});

const { call, ok, users, post, block, mute, befriend } = api(() => app);
const unique = () => `t${Math.random().toString(36).slice(2, 10)}`;
const write = (who: Account, text: string, visibility = 'public') =>
  post<Post>(who, { text, visibility });
const timeline = (path: string, who: Account | null = null, query = '') =>
  ok<Page<Post>>(call('GET', `${path}${query}`, who));
const tagIds = async (tag: string, who: Account | null = null) =>
  (await timeline(`/tags/${encodeURIComponent(tag)}/posts`, who, '?limit=100')).items.map(
    (p) => p.id,
  );

/** Every page of a list, following next_cursor; asserts no id is seen twice. */
async function allPages(
  path: string,
  who: Account | null,
  limit: number,
  between?: () => Promise<unknown>,
) {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const query = `?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const page: Page<Post> = await timeline(path, who, query);
    ids.push(...page.items.map((p) => p.id));
    cursor = page.next_cursor;
    await between?.();
  } while (cursor);
  assert.equal(new Set(ids).size, ids.length, 'no post twice');
  return ids;
}

describe('hashtags on posts', () => {
  it('are extracted, normalised and shown with their timeline URL', async () => {
    const { a } = await users('a');
    const p = await write(a, 'Hello #Café and #CAFÉ, #ＲＵＳＴ #日本語 #1');
    assert.deepEqual(
      p.tags.map((t) => t.name),
      ['café', 'rust', '日本語'],
    );
    assert.equal(p.tags[0]!.url, `/api/v1/tags/${encodeURIComponent('café')}/posts`);
    assert.deepEqual(await tagIds('#CAFE\u0301'), [p.id]);
    assert.deepEqual(await tagIds('ＲＵＳＴ'), [p.id]);
    assert.deepEqual(await tagIds('日本語'), [p.id]);
  });

  it('follow edits: added tags find the post, removed ones no longer do', async () => {
    const { a } = await users('a');
    const [x, y, z] = [unique(), unique(), unique()];
    const p = await write(a, `#${x} #${y}`);
    const edited = await ok<Post>(call('PATCH', `/posts/${p.id}`, a, { text: `#${y} #${z}` }));
    assert.deepEqual(
      edited.tags.map((t) => t.name),
      [y, z],
    );
    assert.deepEqual(await tagIds(x), []);
    assert.deepEqual(await tagIds(y), [p.id]);
    assert.deepEqual(await tagIds(z), [p.id]);
    await ok(call('PATCH', `/posts/${p.id}`, a, { text: 'no tags now' }));
    assert.deepEqual([...(await tagIds(y)), ...(await tagIds(z))], []);
    await ok(call('DELETE', `/posts/${p.id}`, a), 204);
  });

  it('a bad tag name is a 400 invalid_tag', async () => {
    for (const bad of ['123', 'a-b', '%25']) {
      assertInvalidAt(await call('GET', `/tags/${bad}/posts`), '/tag', 'invalid_tag');
    }
  });
});

describe('GET /tags/{tag}/posts', () => {
  it('lists public posts only, without blocked or muted authors, for each viewer', async () => {
    const { a, friend, blocked, muted, viewer } = await users(
      'a',
      'friend',
      'blocked',
      'muted',
      'viewer',
    );
    await befriend(a, friend);
    const tag = unique();
    const pub = await write(a, `#${tag} public`);
    await write(a, `#${tag} friends only`, 'friends');
    await write(a, `#${tag} followers`, 'followers');
    const byBlocked = await write(blocked, `#${tag} from blocked`);
    const byMuted = await write(muted, `#${tag} from muted`);
    await block(viewer, blocked);
    await mute(viewer, muted);
    const byViewer = await write(viewer, `#${tag} from the viewer`);
    const all = [byViewer.id, byMuted.id, byBlocked.id, pub.id];
    assert.deepEqual(await tagIds(tag, viewer), [byViewer.id, pub.id]);
    assert.deepEqual(await tagIds(tag, friend), all, 'public posts only, even for a friend');
    assert.deepEqual(await tagIds(tag), all);
    assert.deepEqual(await tagIds(tag, blocked), [byMuted.id, byBlocked.id, pub.id]);
  });

  it('pages without gaps or repeats while posts arrive', async () => {
    const { a } = await users('a');
    const tag = unique();
    const before: string[] = [];
    for (let i = 0; i < 12; i++) before.push((await write(a, `#${tag} ${i}`)).id);
    const arriving: string[] = [];
    const seen = await allPages(`/tags/${tag}/posts`, null, 5, async () =>
      arriving.push((await write(a, `#${tag} late`)).id),
    );
    assert.deepEqual(seen, before.reverse(), 'every earlier post once, newest first');
    assert.equal((await tagIds(tag)).length, 12 + arriving.length);
  });
});

describe('GET /timelines/public', () => {
  it('holds every public post newest first, paged while posts arrive, minus blocks and mutes', async () => {
    const { a, b, viewer } = await users('a', 'b', 'viewer');
    const mine: string[] = [];
    for (let i = 0; i < 6; i++) mine.push((await write(i % 2 ? a : b, `public ${i}`)).id);
    await write(a, 'friends only', 'friends');
    const seen = await allPages('/timelines/public', null, 4, () => write(a, 'late'));
    const expected = mine.toReversed();
    assert.deepEqual(
      seen.filter((id) => mine.includes(id)),
      expected,
    );
    const pos = seen.indexOf(expected[0]!);
    assert.deepEqual(seen.slice(pos, pos + 6), expected, 'no gap between them');
    await block(viewer, b);
    await mute(viewer, a);
    const forViewer = await allPages('/timelines/public', viewer, 100);
    assert.ok(mine.every((id) => !forViewer.includes(id)));
  });
});

describe('following tags', () => {
  it('follow, list and unfollow, idempotently; anonymous is 401', async () => {
    const { a } = await users('a');
    const tag = unique();
    const first = await ok(call('POST', `/tags/%23${tag.toUpperCase()}/follow`, a));
    assert.deepEqual(first, {
      name: tag,
      url: `/api/v1/tags/${tag}/posts`,
      following: true,
      changed: true,
    });
    assert.equal((await ok(call('POST', `/tags/${tag}/follow`, a))).changed, false);
    await ok(call('POST', `/tags/b${tag}/follow`, a));
    const list = await ok<Page<{ name: string }>>(call('GET', '/followed_tags?limit=1', a));
    assert.deepEqual(
      list.items.map((t) => t.name),
      [`b${tag}`],
    );
    const rest = await ok<Page<{ name: string }>>(
      call('GET', `/followed_tags?limit=1&cursor=${list.next_cursor}`, a),
    );
    assert.deepEqual(
      rest.items.map((t) => t.name),
      [tag],
    );
    const off = await ok(call('DELETE', `/tags/${tag}/follow`, a));
    assert.equal(off.following, false);
    assert.equal(off.changed, true);
    assert.equal((await call('POST', `/tags/${tag}/follow`, null)).statusCode, 401);
  });

  it('concurrent follows of one tag: one changes, and concurrent posts share a new tag', async () => {
    const { a, b } = await users('a', 'b');
    const tag = unique();
    const follows = await Promise.all(
      Array.from({ length: 8 }, () =>
        ok<{ changed: boolean }>(call('POST', `/tags/${tag}/follow`, a)),
      ),
    );
    assert.equal(follows.filter((f) => f.changed).length, 1);
    const posts = await Promise.all(
      Array.from({ length: 8 }, (_, i) => write(i % 2 ? a : b, `#${tag} at once ${i}`)),
    );
    assert.deepEqual((await tagIds(tag)).sort(), posts.map((p) => p.id).sort());
  });
});
