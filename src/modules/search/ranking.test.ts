import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import type { Context } from '../../app/context.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { Account } from '../../../test/support/factories.ts';
import { api } from '../../../test/support/api.ts';
import { SearchRepository, type ScoreCursor } from './search.repository.ts';

// The bound on ranked matches (200 in kith) is 3 here, so a handful of posts shows its rules.
const BOUND = 3;

let app: App;
let ctx: Context;
before(async () => {
  ({ app, ctx } = await createTestApp());
});

const { users, post } = api(() => app);
const word = () => `r${Math.random().toString(36).slice(2, 10)}`;
const write = async (who: Account, text: string) =>
  (await post(who, { text, visibility: 'public' })).id;

/** Every page of one post, following the cursors as the route builds them. */
async function allPages(repo: SearchRepository, q: string, between?: () => Promise<unknown>) {
  const seen: string[] = [];
  let after: ScoreCursor | undefined;
  for (;;) {
    const [row] = await repo.posts(null, q, after, 1);
    if (!row) return seen;
    seen.push(row.id);
    after = { s: row.rank, id: row.id, f: row.floor };
    await between?.();
  }
}

describe('search ranking over the newest matches', () => {
  it('ranks only the newest matches: an older, more relevant post is not among them', async () => {
    const repo = new SearchRepository(ctx.database.db, BOUND);
    const { a } = await users('a');
    const w = word();
    const oldBest = await write(a, `${w} ${w} ${w} said three times`);
    const m1 = await write(a, `${w} once`);
    const m2 = await write(a, `${w} ${w} twice`);
    const m3 = await write(a, `${w} once more`);
    const found = (await repo.posts(null, w, undefined, 10)).map((p) => p.id);
    // By relevance among the newest three, then newest first; the oldest is not ranked.
    assert.deepEqual(found, [m2, m3, m1]);
    assert.ok(!found.includes(oldBest));
  });

  it('pages through the same matches when newer ones arrive: no gap, no repeat', async () => {
    const repo = new SearchRepository(ctx.database.db, BOUND);
    const { a } = await users('a');
    const w = word();
    await write(a, `${w} oldest, outside the bound`);
    const m1 = await write(a, `${w} one`);
    const m2 = await write(a, `${w} two`);
    const m3 = await write(a, `${w} three`);
    // A new match after each page would push the first page's oldest match out of a plain
    // "newest three": the cursor keeps the first page's matches.
    const pages = await allPages(repo, w, () => write(a, `${w} newer`));
    assert.deepEqual(pages, [m3, m2, m1]);
  });
});
