/**
 * Mastodon's report and admin endpoints over kith's moderation services: the shapes, the
 * category and action mapping, roles (403), scopes, and that nothing is half-written on 4xx.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { api, type Res } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { bearer, registerApp, userToken } from '../../../test/support/oauth-apps.ts';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';

let app: App;
let ctx: Context;
before(async () => {
  ({ app, ctx } = await createTestApp());
});

type Json = Record<string, unknown>;
type Report = Json & { id: string; action_taken: boolean; category: string };
const FLAVOUR = { 'kith-flavour': 'mastodon' };
const { users, post, json } = api(() => app);

/** A Mastodon request as `who` (kith's token and `Kith-Flavour: mastodon`). */
const m = (
  who: Account | null,
  method: 'GET' | 'POST',
  url: string,
  payload?: object | string,
  headers: Record<string, string> = {},
) =>
  app.inject({
    method,
    url: url.replace(/^http:\/\/localhost(:80)?/, ''),
    headers: { ...who?.auth, ...FLAVOUR, ...headers },
    ...(payload === undefined ? {} : { payload }),
  });
async function ok<T = Json>(res: Promise<Res>, status = 200): Promise<T> {
  const r = await res;
  assert.equal(r.statusCode, status, r.body);
  assert.match(String(r.headers['content-type']), /^application\/json; charset=utf-8/);
  return r.json<T>();
}
async function fails(res: Promise<Res>, status: number, code?: string) {
  const r = await res;
  assert.equal(r.statusCode, status, r.body);
  const body = r.json<{ error: string; code?: string }>();
  assert.equal(typeof body.error, 'string');
  if (code) assert.equal(body.code, code);
  return body;
}
const moderator = async (role: 'moderator' | 'admin' = 'moderator') => {
  const { mod } = await users('mod');
  await ctx.moderation.setRole(null, mod.username, role);
  return mod;
};
const fileReport = (who: Account, target: Account, extra: Json = {}) =>
  ok<Report>(m(who, 'POST', '/api/v1/reports', { account_id: target.id, ...extra }));
const ownReports = (who: Account) =>
  json<{ items: Json[] }>('GET', '/reports', who).then((p) => p.items);
const auditOf = async (mod: Account, target: Account) =>
  (await json<{ items: Json[] }>('GET', `/admin/audit?target=${target.username}`, mod)).items.map(
    (a) => a.action,
  );

describe('POST /api/v1/reports (Mastodon)', () => {
  it('files a report with statuses and maps the category both ways', async () => {
    const { ana, bad } = await users('ana', 'bad');
    const p = await post(bad);
    const r = await fileReport(ana, bad, {
      status_ids: [p.id],
      comment: 'spam bot',
      category: 'legal',
      forward: true,
      rule_ids: ['1'],
    });
    assert.equal(r.category, 'legal');
    assert.equal(r.action_taken, false);
    assert.equal(r.action_taken_at, null);
    assert.equal(r.comment, 'spam bot');
    assert.equal(r.forwarded, false);
    assert.deepEqual(r.status_ids, [p.id]);
    assert.equal((r.target_account as Json).id, bad.id);
    // kith's own view of the same report: `legal` is kith's `illegal`.
    const [mine] = await ownReports(ana);
    assert.equal(mine!.id, r.id);
    assert.equal(mine!.category, 'illegal');
    assert.deepEqual(mine!.post_ids, [p.id]);
    const v = await fileReport(ana, bad, { category: 'violation' });
    assert.equal(v.category, 'violation');
    assert.equal((await ownReports(ana))[0]!.category, 'abuse');
    assert.equal((await fileReport(ana, bad)).category, 'other');
    assert.equal((await fileReport(ana, bad, { rule_ids: ['1'] })).category, 'violation');
  });

  it('takes a form body with Rails arrays', async () => {
    const { ana, bad } = await users('ana', 'bad');
    const [p1, p2] = [await post(bad), await post(bad)];
    const form = `account_id=${bad.id}&status_ids[]=${p1.id}&status_ids[]=${p2.id}&category=spam`;
    const r = await ok<Report>(
      m(ana, 'POST', '/api/v1/reports', form, {
        'content-type': 'application/x-www-form-urlencoded',
      }),
    );
    assert.deepEqual([...(r.status_ids as string[])].sort(), [p1.id, p2.id].sort());
    assert.equal(r.category, 'spam');
  });

  it('refuses bad input with 422 or 404 and stores nothing', async () => {
    const { ana, bad, other } = await users('ana', 'bad', 'other');
    const foreign = await post(other);
    const send = (body: Json) => m(ana, 'POST', '/api/v1/reports', body);
    await fails(send({ account_id: bad.id, category: 'rude' }), 422, 'validation_failed');
    await fails(send({ account_id: bad.id, status_ids: ['nope'] }), 422, 'validation_failed');
    await fails(send({ account_id: bad.id, status_ids: [foreign.id] }), 422, 'validation_failed');
    await fails(send({ account_id: bad.id, comment: 'x'.repeat(1001) }), 422, 'validation_failed');
    await fails(send({ account_id: bad.id, comment: { a: 1 } }), 422, 'validation_failed');
    await fails(send({ account_id: ana.id }), 422, 'cannot_target_self');
    await fails(send({ account_id: '0190f0f0-0000-7000-8000-000000000000' }), 404);
    await fails(send({ account_id: 'nope' }), 404);
    await fails(send({}), 404);
    assert.deepEqual(await ownReports(ana), []);
  });

  it('needs a token with write:reports; kith tokens keep kith’s route', async () => {
    const { ana, bad } = await users('ana', 'bad');
    const anonymous = await fails(m(null, 'POST', '/api/v1/reports', { account_id: bad.id }), 401);
    assert.equal(anonymous.error, 'The access token is invalid');
    const client = await registerApp(app);
    const readOnly = await userToken(app, client, ana, 'read');
    const body = { account_id: bad.id };
    await fails(
      app.inject({
        method: 'POST',
        url: '/api/v1/reports',
        headers: bearer(readOnly),
        payload: body,
      }),
      403,
      'insufficient_scope',
    );
    const writer = await userToken(app, client, ana, 'write:reports');
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/reports',
      headers: bearer(writer),
      payload: body,
    });
    assert.equal(res.statusCode, 200, res.body);
    // A kith login token without the header reaches kith's own route and shape.
    const kith = await json(
      'POST',
      '/reports',
      ana,
      { account: bad.username, category: 'spam' },
      201,
    );
    assert.equal(kith.account, bad.username);
    assert.equal((await ownReports(ana)).length, 2);
  });
});

describe('/api/v1/admin/reports (Mastodon)', () => {
  it('lists, filters and pages the queue with Link headers', async () => {
    const mod = await moderator();
    const { ana, ben, bad, worse } = await users('ana', 'ben', 'bad', 'worse');
    const p = await post(bad);
    const r1 = await fileReport(ana, bad, { status_ids: [p.id], category: 'spam' });
    const r2 = await fileReport(ben, worse);
    const r3 = await fileReport(ana, worse);
    const list = (q: string) => ok<Report[]>(m(mod, 'GET', `/api/v1/admin/reports?${q}`));
    const ids = (rows: Report[]) => rows.map((r) => r.id);
    const byWorse = await list(`target_account_id=${worse.id}`);
    assert.deepEqual(ids(byWorse), [r3.id, r2.id]);
    assert.deepEqual(ids(await list(`account_id=${ana.id}`)), [r3.id, r1.id]);
    assert.deepEqual(ids(await list(`account_id=${ana.id}&target_account_id=${bad.id}`)), [r1.id]);
    assert.deepEqual(await list('target_account_id=nope'), []);
    const [one] = await list(`target_account_id=${bad.id}`);
    assert.equal(one!.category, 'spam');
    assert.equal((one!.account as Json).id, ana.id);
    assert.equal(((one!.account as Json).account as Json).username, ana.username);
    assert.equal((one!.target_account as Json).id, bad.id);
    assert.equal(one!.assigned_account, null);
    assert.equal(one!.action_taken_by_account, null);
    assert.deepEqual(
      (one!.statuses as Json[]).map((s) => s.id),
      [p.id],
    );
    assert.deepEqual(one!.rules, []);

    const first = await m(
      mod,
      'GET',
      `/api/v1/admin/reports?target_account_id=${worse.id}&limit=1`,
    );
    assert.deepEqual(ids(first.json()), [r3.id]);
    const next = /<([^>]+)>; rel="next"/.exec(String(first.headers.link))?.[1];
    assert.ok(next !== undefined && next.startsWith('http'), String(first.headers.link));
    assert.match(next, /target_account_id=/);
    assert.deepEqual(ids(await ok<Report[]>(m(mod, 'GET', next))), [r2.id]);

    await ok(m(mod, 'POST', `/api/v1/admin/reports/${r2.id}/resolve`));
    assert.deepEqual(ids(await list(`target_account_id=${worse.id}`)), [r3.id]);
    assert.deepEqual(ids(await list(`target_account_id=${worse.id}&resolved=true`)), [r2.id]);
  });

  it('assigns, unassigns, resolves and reopens, each in the audit log', async () => {
    const mod = await moderator();
    const { ana, bad } = await users('ana', 'bad');
    const r = await fileReport(ana, bad);
    const verb = (v: string) => ok<Report>(m(mod, 'POST', `/api/v1/admin/reports/${r.id}/${v}`));
    assert.equal(((await verb('assign_to_self')).assigned_account as Json).id, mod.id);
    assert.equal((await verb('unassign')).assigned_account, null);
    const resolved = await verb('resolve');
    assert.equal(resolved.action_taken, true);
    assert.equal(typeof resolved.action_taken_at, 'string');
    assert.equal((resolved.action_taken_by_account as Json).id, mod.id);
    assert.equal((resolved.kith as Json).action, 'dismiss');
    await fails(m(mod, 'POST', `/api/v1/admin/reports/${r.id}/resolve`), 422, 'report_resolved');
    const reopened = await verb('reopen');
    assert.equal(reopened.action_taken, false);
    assert.equal(reopened.action_taken_by_account, null);
    await fails(m(mod, 'POST', `/api/v1/admin/reports/${r.id}/reopen`), 422, 'report_open');
    const fetched = await ok<Report>(m(mod, 'GET', `/api/v1/admin/reports/${r.id}`));
    assert.equal(fetched.action_taken, false);
    assert.deepEqual(await auditOf(mod, bad), [
      'report.reopened',
      'report.dismissed',
      'report.unassigned',
      'report.assigned',
    ]);
    // The reporter sees the report open again.
    assert.equal((await ownReports(ana))[0]!.status, 'open');
  });

  it('answers 401, 403 (users, scopes), 404 (unknown, malformed) and changes nothing', async () => {
    const mod = await moderator();
    const { ana, bad } = await users('ana', 'bad');
    const r = await fileReport(ana, bad);
    await fails(m(null, 'GET', '/api/v1/admin/reports'), 401);
    await fails(m(null, 'POST', `/api/v1/admin/reports/${r.id}/assign_to_self`), 401);
    const denied = await fails(m(ana, 'GET', '/api/v1/admin/reports'), 403, 'moderator_only');
    assert.equal(denied.error, 'This action is not allowed');
    await fails(m(ana, 'GET', `/api/v1/admin/reports/${r.id}`), 403, 'moderator_only');
    for (const v of ['assign_to_self', 'unassign', 'resolve', 'reopen'])
      await fails(m(ana, 'POST', `/api/v1/admin/reports/${r.id}/${v}`), 403, 'moderator_only');
    const unknown = '0190f0f0-0000-7000-8000-000000000000';
    await fails(m(mod, 'GET', `/api/v1/admin/reports/${unknown}`), 404);
    await fails(m(mod, 'GET', '/api/v1/admin/reports/nope'), 404);
    await fails(m(mod, 'POST', `/api/v1/admin/reports/${unknown}/assign_to_self`), 404);
    await fails(m(mod, 'POST', '/api/v1/admin/reports/nope/resolve'), 404);
    // A moderator's OAuth token without admin scopes is refused too.
    const token = await userToken(app, await registerApp(app), mod, 'read write');
    await fails(
      app.inject({ method: 'GET', url: '/api/v1/admin/reports', headers: bearer(token) }),
      403,
      'insufficient_scope',
    );
    const fetched = await ok<Report>(m(mod, 'GET', `/api/v1/admin/reports/${r.id}`));
    assert.equal(fetched.action_taken, false);
    assert.equal(fetched.assigned_account, null);
    assert.deepEqual(await auditOf(mod, bad), []);
  });
});

describe('/api/v1/admin/accounts (Mastodon)', () => {
  const action = (mod: Account, target: Account, body: Json) =>
    m(mod, 'POST', `/api/v1/admin/accounts/${target.id}/action`, body);
  const adminAccount = (mod: Account, target: Account) =>
    ok<Json>(m(mod, 'GET', `/api/v1/admin/accounts/${target.id}`));

  it('shows an Admin::Account; silence and unsilence are kith’s limit and unlimit', async () => {
    const mod = await moderator();
    const { bad } = await users('bad');
    const before = await adminAccount(mod, bad);
    assert.equal(before.username, bad.username);
    assert.equal(before.email, bad.email);
    assert.equal(before.silenced, false);
    assert.equal(before.suspended, false);
    assert.equal((before.role as Json).name, '');
    assert.equal((before.account as Json).id, bad.id);
    const self = await adminAccount(mod, mod);
    assert.deepEqual(
      [(self.role as Json).name, (self.role as Json).permissions],
      ['Moderator', '1072'],
    );
    assert.deepEqual(await ok(action(mod, bad, { type: 'silence', text: 'calm down' })), {});
    assert.equal((await adminAccount(mod, bad)).silenced, true);
    await fails(action(mod, bad, { type: 'silence' }), 422, 'already_limited');
    const after = await ok<Json>(m(mod, 'POST', `/api/v1/admin/accounts/${bad.id}/unsilence`));
    assert.equal(after.silenced, false);
    assert.deepEqual(await auditOf(mod, bad), ['unlimit', 'limit']);
  });

  it('suspends through a report (resolving it) and unsuspends', async () => {
    const mod = await moderator();
    const { ana, bad } = await users('ana', 'bad');
    const r = await fileReport(ana, bad);
    await ok(
      action(mod, bad, {
        type: 'suspend',
        report_id: r.id,
        text: 'spam',
        send_email_notification: false,
      }),
    );
    const account = await adminAccount(mod, bad);
    assert.equal(account.suspended, true);
    const report = await ok<Report>(m(mod, 'GET', `/api/v1/admin/reports/${r.id}`));
    assert.equal(report.action_taken, true);
    assert.equal((report.kith as Json).action, 'suspend');
    // The suspended user can do nothing.
    assert.equal((await m(bad, 'GET', '/api/v1/accounts/verify_credentials')).statusCode, 403);
    const back = await ok<Json>(m(mod, 'POST', `/api/v1/admin/accounts/${bad.id}/unsuspend`));
    assert.equal(back.suspended, false);
    await fails(m(mod, 'POST', `/api/v1/admin/accounts/${bad.id}/unsuspend`), 422, 'not_suspended');
    assert.deepEqual(await auditOf(mod, bad), ['unsuspend', 'suspend']);
    // `none` with a report closes it with nothing done.
    const r2 = await fileReport(ana, bad);
    await ok(action(mod, bad, { type: 'none', report_id: r2.id }));
    const closed = await ok<Report>(m(mod, 'GET', `/api/v1/admin/reports/${r2.id}`));
    assert.equal((closed.kith as Json).action, 'dismiss');
  });

  it('refuses unsupported and bad actions, and non-moderators, changing nothing', async () => {
    const mod = await moderator();
    const { ana, bad, other } = await users('ana', 'bad', 'other');
    const aboutOther = await fileReport(ana, other);
    await fails(action(mod, bad, { type: 'sensitive' }), 422, 'unsupported');
    await fails(action(mod, bad, { type: 'disable' }), 422, 'unsupported');
    await fails(action(mod, bad, { type: 'none' }), 422, 'unsupported');
    await fails(action(mod, bad, { type: 'explode' }), 422, 'validation_failed');
    await fails(action(mod, bad, { type: 'suspend', text: 42 }), 422, 'validation_failed');
    await fails(
      action(mod, bad, { type: 'suspend', report_id: aboutOther.id }),
      422,
      'validation_failed',
    );
    await fails(action(mod, bad, { type: 'suspend', report_id: 'nope' }), 404);
    const unknown = '0190f0f0-0000-7000-8000-000000000000';
    await fails(action(mod, bad, { type: 'suspend', report_id: unknown }), 404);
    await fails(m(mod, 'GET', `/api/v1/admin/accounts/${unknown}`), 404);
    await fails(m(mod, 'POST', '/api/v1/admin/accounts/nope/action', { type: 'silence' }), 404);
    await fails(
      m(null, 'POST', `/api/v1/admin/accounts/${bad.id}/action`, { type: 'suspend' }),
      401,
    );
    const denied = await fails(action(ana, bad, { type: 'suspend' }), 403, 'moderator_only');
    assert.equal(denied.error, 'This action is not allowed');
    await fails(m(ana, 'GET', `/api/v1/admin/accounts/${bad.id}`), 403, 'moderator_only');
    await fails(m(ana, 'POST', `/api/v1/admin/accounts/${unknown}/unsilence`), 403);
    // Acting on staff is for admins: a moderator cannot silence another moderator.
    const other_mod = await moderator();
    await fails(action(mod, other_mod, { type: 'silence' }), 403, 'cannot_moderate_staff');
    const admin = await moderator('admin');
    await ok(action(admin, other_mod, { type: 'silence' }));
    const state = await adminAccount(mod, bad);
    assert.equal(state.suspended, false);
    assert.equal(state.silenced, false);
    assert.deepEqual(await auditOf(mod, bad), []);
    assert.equal(
      (await ok<Report>(m(mod, 'GET', `/api/v1/admin/reports/${aboutOther.id}`))).action_taken,
      false,
    );
  });
});
