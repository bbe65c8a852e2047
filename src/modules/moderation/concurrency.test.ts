/**
 * Moderators and reporters at the same time (meaningful on Postgres, where requests really run
 * in parallel; on PGlite they queue): one outcome per report and per account, every report kept.
 */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import type { Context } from '../../app/context.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { Account } from '../../../test/support/factories.ts';
import { api, type Page } from '../../../test/support/api.ts';

let app: App;
let ctx: Context;
before(async () => {
  ({ app, ctx } = await createTestApp());
});
const { call, ok, accounts, users } = api(() => app);

const moderators = async (n: number): Promise<Account[]> => {
  const mods: Account[] = await accounts(n);
  for (const m of mods) await ctx.moderation.setRole(null, m.username, 'moderator');
  return mods;
};
const statuses = (responses: { statusCode: number }[]) =>
  responses.map((r) => r.statusCode).sort((a, b) => a - b);

describe('concurrent moderation', () => {
  it('five moderators resolve one report at once: one suspends, four get 409', async () => {
    const { reporter, bad } = await users('reporter', 'bad');
    const mods = await moderators(5);
    const report = await ok<{ id: string }>(
      call('POST', '/reports', reporter, { account: bad.username, category: 'abuse' }),
      201,
    );
    const results = await Promise.all(
      mods.map((m) =>
        call('POST', `/admin/reports/${report.id}/resolve`, m, { action: 'suspend' }),
      ),
    );
    assert.deepEqual(statuses(results), [200, 409, 409, 409, 409]);
    for (const r of results.filter((r) => r.statusCode === 409))
      assert.equal(r.json<{ code: string }>().code, 'report_resolved');
    const audit = await ok<Page<{ action: string }>>(
      call('GET', `/admin/audit?target=${bad.username}`, mods[0]),
    );
    assert.deepEqual(
      audit.items.map((a) => a.action),
      ['suspend'],
    );
  });

  it('two moderators suspend one account at once: one wins, one gets already_suspended', async () => {
    const [target] = await accounts(1);
    const mods = await moderators(2);
    const results = await Promise.all(
      mods.map((m) => call('POST', `/admin/accounts/${target.username}/suspend`, m, {})),
    );
    assert.deepEqual(statuses(results), [200, 409]);
    assert.equal(
      results.find((r) => r.statusCode === 409)!.json<{ code: string }>().code,
      'already_suspended',
    );
  });

  it('twenty reports filed at once are all kept', async () => {
    const [bad] = await accounts(1);
    const reporters: Account[] = await accounts(20);
    const [mod] = await moderators(1);
    const results = await Promise.all(
      reporters.map((r) =>
        call('POST', '/reports', r, { account: bad.username, category: 'spam' }),
      ),
    );
    assert.ok(results.every((r) => r.statusCode === 201));
    const queue = await ok<Page<{ reporter: string }>>(
      call('GET', `/admin/reports?account=${bad.username}&limit=100`, mod),
    );
    assert.deepEqual(
      queue.items.map((i) => i.reporter).sort(),
      reporters.map((r) => r.username).sort(),
    );
  });
});
