/**
 * The viewer's own lists through the Mastodon API: favourites (newest like first), blocks and
 * mutes (newest first), each paged through absolute `Link` headers with opaque cursors.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { api, type Res } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { App } from '../../http/types.ts';

let app: App;
const m = api(() => app);
before(async () => {
  ({ app } = await createTestApp());
});

type Item = { id: string } & Record<string, unknown>;
const call = (who: Account | null, url: string) =>
  app.inject({ method: 'GET', url: url.replace(/^http:\/\/[^/]+/, ''), headers: { ...who?.auth } });
async function list(who: Account | null, url: string): Promise<{ items: Item[]; res: Res }> {
  const res = await call(who, url);
  assert.equal(res.statusCode, 200, res.body);
  return { items: res.json<Item[]>(), res };
}
const next = (res: Res) => /<([^>]+)>; rel="next"/.exec(String(res.headers.link ?? ''))?.[1];

/** Every item of a list, following `next` links `limit` at a time. */
async function walk(who: Account, url: string): Promise<string[]> {
  const seen: string[] = [];
  let at: string | undefined = url;
  while (at) {
    const { items, res } = await list(who, at);
    seen.push(...items.map((i) => i.id));
    at = next(res);
  }
  return seen;
}

describe('Mastodon favourites, blocks and mutes lists', () => {
  it('lists favourites newest like first, without posts no longer visible', async () => {
    const { ana, ben, cy } = await m.users('ana', 'ben', 'cy');
    await m.follow(ana, cy);
    const posts = [
      await m.post(ben, { text: 'one' }),
      await m.post(cy, { text: 'two', visibility: 'followers' }),
      await m.post(ben, { text: 'three' }),
    ];
    // Liked in another order than posted: the list follows the likes.
    for (const i of [2, 0, 1]) await m.json('POST', `/posts/${posts[i]!.id}/like`, ana);
    const favourites = await list(ana, '/api/v1/favourites');
    assert.deepEqual(
      favourites.items.map((s) => s.id),
      [posts[1]!.id, posts[0]!.id, posts[2]!.id],
    );
    assert.ok(favourites.items.every((s) => s.favourited === true));
    assert.deepEqual(await walk(ana, '/api/v1/favourites?limit=2'), [
      posts[1]!.id,
      posts[0]!.id,
      posts[2]!.id,
    ]);
    const first = await list(ana, '/api/v1/favourites?limit=2');
    assert.match(next(first.res)!, /^http:\/\/[^/]+\/api\/v1\/favourites\?limit=2&max_id=/);

    // Unfollowed: the followers-only post is no longer visible, nor listed.
    await m.unfollow(ana, cy);
    assert.deepEqual(
      (await list(ana, '/api/v1/favourites')).items.map((s) => s.id),
      [posts[0]!.id, posts[2]!.id],
    );
    // Everyone has their own list.
    assert.deepEqual((await list(ben, '/api/v1/favourites')).items, []);
    assert.deepEqual((await list(ana, '/api/v1/favourites?max_id=forged')).items, []);
  });

  for (const kind of ['blocks', 'mutes'] as const) {
    it(`lists ${kind} newest first, paged`, async () => {
      const [me, a, b, c, other] = await m.accounts(5);
      const act = kind === 'blocks' ? m.block : m.mute;
      for (const target of [a, b, c]) await act(me, target);
      const url = `/api/v1/${kind}`;
      const { items } = await list(me, url);
      assert.deepEqual(
        items.map((u) => u.id),
        [c.id, b.id, a.id],
      );
      assert.equal(items[0]!.username, c.username);
      assert.deepEqual(await walk(me, `${url}?limit=2`), [c.id, b.id, a.id]);
      await (kind === 'blocks' ? m.unblock : m.unmute)(me, b);
      assert.deepEqual(
        (await list(me, url)).items.map((u) => u.id),
        [c.id, a.id],
      );
      // Another user's list is theirs; a blocked user does not see who blocked them.
      assert.deepEqual((await list(other, url)).items, []);
      assert.deepEqual((await list(a, url)).items, []);
      assert.deepEqual((await list(me, `${url}?max_id=forged`)).items, []);
    });
  }

  it('answers anonymous callers with a JSON 401', async () => {
    for (const url of ['/api/v1/favourites', '/api/v1/blocks', '/api/v1/mutes']) {
      const res = await call(null, url);
      assert.equal(res.statusCode, 401, url);
      assert.equal(res.json().error, 'The access token is invalid');
    }
  });
});
