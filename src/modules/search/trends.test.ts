import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import type { App } from '../../http/types.ts';
import type { Context } from '../../app/context.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { api } from '../../../test/support/api.ts';

type Trend = {
  name: string;
  url: string;
  accounts: number;
  history: { hour: string; accounts: number }[];
};

let app: App;
let ctx: Context;
before(async () => {
  ({ app, ctx } = await createTestApp());
});
const { call, ok, users, post, block } = api(() => app);
const trends = async (who: Parameters<typeof call>[2] = null) =>
  ok<Trend[]>(call('GET', '/trends/tags?limit=20', who));

describe('GET /trends/tags', () => {
  it('ranks tags by distinct authors of public posts in 24 h, hourly, minus blocked authors', async () => {
    const { a, b, c, viewer } = await users('a', 'b', 'c', 'viewer');
    for (const who of [a, b, c]) await post(who, { text: '#wide #wide' });
    await post(a, { text: '#narrow' });
    await post(a, { text: '#narrow again' });
    await post(b, { text: '#secret', visibility: 'friends' });
    const old = await post<{ id: string }>(c, { text: '#stale' });
    await sql`update post_tags set created_at = now() - interval '25 hours'
      where post_id = ${old.id}`.execute(ctx.database.db);
    await block(viewer, c);

    const all = await trends();
    assert.deepEqual(
      all.map((t) => [t.name, t.accounts]),
      [
        ['wide', 3],
        ['narrow', 1],
      ],
    );
    const hour = new Date();
    hour.setUTCMinutes(0, 0, 0);
    assert.deepEqual(all[0]!.history, [{ hour: hour.toISOString(), accounts: 3 }]);
    assert.equal(all[0]!.url, '/api/v1/tags/wide/posts');
    // The blocked author is not counted for the viewer (from the same cached ranking).
    assert.deepEqual(
      (await trends(viewer)).map((t) => [t.name, t.accounts, t.history[0]!.accounts]),
      [
        ['wide', 2, 2],
        ['narrow', 1, 1],
      ],
    );
    // Blocks count either way: for c, whom the viewer blocked, the viewer's use is not counted.
    await post(viewer, { text: '#narrow' });
    await ctx.cache.delete('trends:tags');
    assert.deepEqual(
      (await trends(c)).map((t) => [t.name, t.accounts]),
      [
        ['wide', 3],
        ['narrow', 1],
      ],
    );
    assert.deepEqual(
      (await trends()).map((t) => [t.name, t.accounts]),
      [
        ['wide', 3],
        ['narrow', 2],
      ],
    );
  });
});
