/**
 * A limited account (moderator action `limit`) reaches only its followers: its public posts
 * leave search, the public and tag timelines for anonymous readers and non-followers, stay
 * there for its followers and itself, and its tags stop counting in trends. Unlimiting brings
 * them back.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { api, type Page } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';

let app: App;
let ctx: Context;
before(async () => {
  ({ app, ctx } = await createTestApp());
});
const { call, ok, users, post, follow } = api(() => app);
const word = () => `w${Math.random().toString(36).slice(2, 10)}`;

const ids = async (path: string, who: Account | null) =>
  (await ok<Page<{ id: string }>>(call('GET', path, who))).items.map((p) => p.id);

describe('limited accounts', () => {
  it('leave search, public and tag timelines and trends, except for their followers', async () => {
    const { mod, limited, fan, stranger, other } = await users(
      'mod',
      'limited',
      'fan',
      'stranger',
      'other',
    );
    await ctx.moderation.setRole(null, mod.username, 'moderator');
    await follow(fan, limited);
    const w = word();
    const tag = word();
    const mine = (await post(limited, { text: `${w} #${tag}` })).id;
    const theirs = (await post(other, { text: `${w} other` })).id;
    const surfaces = [
      `/search?type=posts&limit=100&q=${w}`,
      `/tags/${tag}/posts?limit=100`,
      '/timelines/public?limit=100',
    ];
    const sees = async (who: Account | null) =>
      Promise.all(surfaces.map(async (path) => (await ids(path, who)).includes(mine)));
    const trending = async () =>
      (await ok<{ name: string }[]>(call('GET', '/trends/tags?limit=20', null))).some(
        (t) => t.name === tag,
      );
    for (const who of [null, stranger, fan, limited]) {
      assert.deepEqual(await sees(who), [true, true, true], 'everyone before the limit');
    }
    assert.ok(await trending());

    await ok(call('POST', `/admin/accounts/${limited.username}/limit`, mod, { reason: 'spam' }));
    await ctx.cache.delete('trends:tags');
    for (const who of [null, stranger]) {
      assert.deepEqual(await sees(who), [false, false, false], 'gone for non-followers');
    }
    for (const who of [fan, limited]) {
      assert.deepEqual(await sees(who), [true, true, true], 'kept for followers and self');
    }
    assert.ok(!(await trending()), 'its tags no longer trend');
    // Others' posts are untouched, and the limited post is still readable where it lives.
    assert.ok((await ids(surfaces[0]!, stranger)).includes(theirs));
    await ok(call('GET', `/posts/${mine}`, stranger));

    await ok(call('POST', `/admin/accounts/${limited.username}/unlimit`, mod, { reason: 'ok' }));
    await ctx.cache.delete('trends:tags');
    assert.deepEqual(await sees(stranger), [true, true, true], 'back after unlimit');
    assert.ok(await trending());
  });
});
