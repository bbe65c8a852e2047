import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import type { Context } from '../../app/context.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import type { Account } from '../../../test/support/factories.ts';
import { assertInvalid, assertProblem } from '../../../test/support/problems.ts';
import { api, type Page } from '../../../test/support/api.ts';

type Report = {
  id: string;
  account: string;
  category: string;
  status: string;
  action: string | null;
  post_ids: string[];
  comment_ids: string[];
  reporter?: string;
  assignee?: string | null;
  notes?: { author: string; text: string }[];
};

let app: App;
let ctx: Context;
before(async () => {
  ({ app, ctx } = await createTestApp());
});

const { call, ok, users, post } = api(() => app);
const moderator = async () => {
  const { mod } = await users('mod');
  await ctx.moderation.setRole(null, mod.username, 'moderator');
  return mod;
};
const report = (who: Account, body: object) => call('POST', '/reports', who, body);
const fileReport = (who: Account, body: object) => ok<Report>(report(who, body), 201);

describe('POST /reports', () => {
  it('files a report about an account and some of its posts and comments', async () => {
    const { reporter, bad } = await users('reporter', 'bad');
    const p = await post(bad);
    const c = await ok<{ id: string }>(
      call('POST', `/posts/${p.id}/comments`, bad, { text: 'rude' }),
      201,
    );
    const r = await fileReport(reporter, {
      account: bad.username.toUpperCase(),
      category: 'abuse',
      comment: '  mean  ',
      post_ids: [p.id, p.id],
      comment_ids: [c.id],
    });
    assert.equal(r.account, bad.username);
    assert.equal(r.status, 'open');
    assert.equal(r.action, null);
    assert.deepEqual(r.post_ids, [p.id]);
    assert.deepEqual(r.comment_ids, [c.id]);
  });

  it('refuses reporting yourself, unknown accounts, bad categories and others’ posts', async () => {
    const { reporter, bad, other } = await users('reporter', 'bad', 'other');
    assertProblem(
      await report(reporter, { account: reporter.username, category: 'spam' }),
      400,
      'cannot_target_self',
    );
    assertProblem(
      await report(reporter, { account: 'nobody_here', category: 'spam' }),
      404,
      'user_not_found',
    );
    assertInvalid(await report(reporter, { account: bad.username, category: 'meh' }), '/category');
    const notBad = await post(other);
    const res = await report(reporter, {
      account: bad.username,
      category: 'spam',
      post_ids: [notBad.id],
    });
    const body = assertInvalid(res, '/post_ids');
    assert.equal(body.errors?.[0]?.code, 'not_by_account');
    // Nothing was written.
    const mine = await ok<Page<Report>>(call('GET', '/reports', reporter));
    assert.equal(mine.items.length, 0);
  });
});

describe('GET /reports', () => {
  it('lists only your own reports, newest first, with their outcome', async () => {
    const { a, b, bad } = await users('a', 'b', 'bad');
    const mod = await moderator();
    const first = await fileReport(a, { account: bad.username, category: 'spam' });
    await fileReport(a, { account: bad.username, category: 'other' });
    await fileReport(b, { account: bad.username, category: 'spam' });
    await ok(call('POST', `/admin/reports/${first.id}/resolve`, mod, { action: 'dismiss' }));
    const page1 = await ok<Page<Report>>(call('GET', '/reports?limit=1', a));
    assert.equal(page1.items[0]?.category, 'other');
    assert.ok(page1.next_cursor);
    const page2 = await ok<Page<Report>>(call('GET', `/reports?cursor=${page1.next_cursor}`, a));
    assert.equal(page2.items.length, 1);
    assert.equal(page2.items[0]?.id, first.id);
    assert.equal(page2.items[0]?.status, 'resolved');
    assert.equal(page2.items[0]?.action, 'dismiss');
    assert.equal(page2.next_cursor, null);
  });
});

describe('the moderators’ queue', () => {
  it('filters by status, category and account, pages by keyset', async () => {
    const { a, x, y } = await users('a', 'x', 'y');
    const mod = await moderator();
    const rx = await fileReport(a, { account: x.username, category: 'spam' });
    await fileReport(a, { account: y.username, category: 'illegal' });
    await fileReport(a, { account: x.username, category: 'illegal' });
    const byX = await ok<Page<Report>>(
      call('GET', `/admin/reports?account=${x.username}&limit=1`, mod),
    );
    assert.equal(byX.items[0]?.category, 'illegal');
    assert.equal(byX.items[0]?.reporter, a.username);
    const next = await ok<Page<Report>>(
      call('GET', `/admin/reports?account=${x.username}&cursor=${byX.next_cursor}`, mod),
    );
    assert.deepEqual(
      next.items.map((r) => r.id),
      [rx.id],
    );
    const illegal = await ok<Page<Report>>(
      call('GET', `/admin/reports?category=illegal&account=${y.username}`, mod),
    );
    assert.equal(illegal.items.length, 1);
    await ok(call('POST', `/admin/reports/${rx.id}/resolve`, mod, { action: 'dismiss' }));
    const open = await ok<Page<Report>>(
      call('GET', `/admin/reports?status=open&account=${x.username}`, mod),
    );
    assert.equal(open.items.length, 1);
    assert.notEqual(open.items[0]?.id, rx.id);
  });

  it('assigns, notes and resolves once; a second resolve is 409', async () => {
    const { a, x } = await users('a', 'x');
    const mod = await moderator();
    const other = await moderator();
    const r = await fileReport(a, { account: x.username, category: 'spam' });
    const mine = await ok<Report>(call('POST', `/admin/reports/${r.id}/assign`, mod, {}));
    assert.equal(mine.assignee, mod.username);
    const given = await ok<Report>(
      call('POST', `/admin/reports/${r.id}/assign`, mod, { username: other.username }),
    );
    assert.equal(given.assignee, other.username);
    assertProblem(
      await call('POST', `/admin/reports/${r.id}/assign`, mod, { username: a.username }),
      400,
      'not_a_moderator',
    );
    const noted = await ok<Report>(
      call('POST', `/admin/reports/${r.id}/notes`, other, { text: 'looking' }),
      201,
    );
    assert.deepEqual(
      noted.notes?.map((n) => [n.author, n.text]),
      [[other.username, 'looking']],
    );
    assertInvalid(
      await call('POST', `/admin/reports/${r.id}/notes`, other, { text: ' ' }),
      '/text',
    );
    await ok(call('POST', `/admin/reports/${r.id}/resolve`, other, { action: 'dismiss' }));
    assertProblem(
      await call('POST', `/admin/reports/${r.id}/resolve`, mod, { action: 'suspend' }),
      409,
      'report_resolved',
    );
    // The dismissal changed nothing about the account.
    await ok(call('GET', `/users/${x.username}`, null));
    assertProblem(
      await call('GET', '/admin/reports/0190a000-0000-7000-8000-000000000000', mod),
      404,
      'report_not_found',
    );
  });

  it('unassigns and reopens: 409 report_open on an open report, 404 unknown, 403 users', async () => {
    const { a, x } = await users('a', 'x');
    const mod = await moderator();
    const r = await fileReport(a, { account: x.username, category: 'spam' });
    await ok(call('POST', `/admin/reports/${r.id}/assign`, mod, {}));
    const back = await ok<Report>(call('POST', `/admin/reports/${r.id}/unassign`, mod));
    assert.equal(back.assignee, null);
    assertProblem(await call('POST', `/admin/reports/${r.id}/reopen`, mod), 409, 'report_open');
    await ok(call('POST', `/admin/reports/${r.id}/resolve`, mod, { action: 'limit' }));
    const reopened = await ok<Report>(call('POST', `/admin/reports/${r.id}/reopen`, mod));
    assert.deepEqual([reopened.status, reopened.action], ['open', null]);
    // What the resolution did stays done: the account is still limited.
    assertProblem(
      await call('POST', `/admin/accounts/${x.username}/limit`, mod, {}),
      409,
      'already_limited',
    );
    const unknown = '0190f0f0-0000-7000-8000-000000000000';
    assertProblem(
      await call('POST', `/admin/reports/${unknown}/reopen`, mod),
      404,
      'report_not_found',
    );
    assertProblem(
      await call('POST', `/admin/reports/${unknown}/unassign`, mod),
      404,
      'report_not_found',
    );
    assertProblem(await call('POST', `/admin/reports/${r.id}/unassign`, a), 403, 'moderator_only');
    const audit = await ok<Page<{ action: string }>>(
      call('GET', `/admin/audit?target=${x.username}`, mod),
    );
    assert.deepEqual(
      audit.items.map((e) => e.action),
      ['report.reopened', 'limit', 'report.unassigned', 'report.assigned'],
    );
  });

  it('delete_content removes the reported posts and comments through their services', async () => {
    const { a, x } = await users('a', 'x');
    const mod = await moderator();
    const kept = await post(x);
    const gone = await post(x);
    const onKept = await ok<{ id: string }>(
      call('POST', `/posts/${kept.id}/comments`, x, { text: 'rude' }),
      201,
    );
    const r = await fileReport(a, {
      account: x.username,
      category: 'abuse',
      post_ids: [gone.id],
      comment_ids: [onKept.id],
    });
    await ok(
      call('POST', `/admin/reports/${r.id}/resolve`, mod, {
        action: 'delete_content',
        reason: 'harassment',
      }),
    );
    assertProblem(await call('GET', `/posts/${gone.id}`, x), 404, 'post_not_found');
    const still = await ok<{ comment_count: number }>(call('GET', `/posts/${kept.id}`, x));
    assert.equal(still.comment_count, 0);
    const profile = await ok<{ post_count: number }>(call('GET', `/users/${x.username}`, x));
    assert.equal(profile.post_count, 1);
  });
});
