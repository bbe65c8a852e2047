/**
 * Reports and moderation through masto.js with OAuth tokens, as a Mastodon app and a Mastodon
 * admin app would: the user is told (mail) by kith's worker, as for kith's own routes.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { createRestAPIClient, MastoHttpError } from 'masto';
import { api } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { registerApp, userToken } from '../../../test/support/oauth-apps.ts';

const { app, ctx, worker } = await createTestAppWithWorker('mastodon-moderation-clients');
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
after(() => worker.stop());

const { users, post, json } = api(app);
const client = await registerApp(app, { scopes: 'read write admin:read admin:write' });
const masto = async (who: Account, scope: string) =>
  createRestAPIClient({ url: base, accessToken: await userToken(app, client, who, scope) });
const mailTo = (email: string) =>
  readdirSync(ctx.config.mailDir)
    .map((f) => readFileSync(`${ctx.config.mailDir}/${f}`, 'utf8'))
    .filter((mail) => mail.includes(`To: ${email}`));

describe('moderation with masto.js', () => {
  it('files a report, lists it as a moderator and silences the account through it', async () => {
    const { ana, bad, mod } = await users('ana', 'bad', 'mod');
    await ctx.moderation.setRole(null, mod.username, 'moderator');
    const p = await post(bad);
    const reporter = await masto(ana, 'read write:reports');
    const report = await reporter.v1.reports.create({
      accountId: bad.id,
      statusIds: [p.id],
      comment: 'selling things',
      category: 'spam',
      forward: false,
    });
    assert.equal(report.category, 'spam');
    assert.deepEqual(report.statusIds, [p.id]);
    assert.equal(report.targetAccount.username, bad.username);

    const staff = await masto(mod, 'admin:read admin:write');
    const queue = await staff.v1.admin.reports.list({ targetAccountId: bad.id });
    assert.deepEqual(
      queue.map((r) => r.id),
      [report.id],
    );
    assert.equal(queue[0]!.statuses[0]!.id, p.id);
    assert.equal(queue[0]!.account.id, ana.id);
    const mine = await staff.v1.admin.reports.$select(report.id).assignToSelf();
    assert.equal(mine.assignedAccount?.id, mod.id);

    await staff.v1.admin.accounts.$select(bad.id).action.create({
      type: 'silence',
      reportId: report.id,
      text: 'no selling here',
      sendEmailNotification: true,
    });
    const account = await staff.v1.admin.accounts.$select(bad.id).fetch();
    assert.equal(account.silenced, true);
    const resolved = await staff.v1.admin.reports.$select(report.id).fetch();
    assert.equal(resolved.actionTaken, true);
    // Open reports no longer list it; resolved ones do.
    assert.deepEqual(await staff.v1.admin.reports.list({ targetAccountId: bad.id }), []);
    const done = await staff.v1.admin.reports.list({ targetAccountId: bad.id, resolved: true });
    assert.deepEqual(
      done.map((r) => r.id),
      [report.id],
    );

    // The user hears of it as from kith's own routes: the worker mails the reason.
    await drain(ctx);
    const notices = mailTo(bad.email).filter((mail) => mail.includes('no selling here'));
    assert.equal(notices.length, 1);
    const audit = await json<{ items: { action: string; report_id: string }[] }>(
      'GET',
      `/admin/audit?target=${bad.username}`,
      mod,
    );
    assert.deepEqual(
      audit.items.map((a) => [a.action, a.report_id]),
      [
        ['limit', report.id],
        ['report.assigned', report.id],
      ],
    );
  });

  it('refuses a plain user with admin scopes: 403 This action is not allowed', async () => {
    const { ana, bad } = await users('ana', 'bad');
    const user = await masto(ana, 'admin:read admin:write');
    await assert.rejects(
      async () => {
        await user.v1.admin.reports.list();
      },
      (err: unknown) => {
        assert.ok(err instanceof MastoHttpError, String(err));
        assert.equal(err.statusCode, 403);
        assert.equal(err.message, 'This action is not allowed');
        return true;
      },
    );
    await assert.rejects(
      user.v1.admin.accounts.$select(bad.id).action.create({ type: 'suspend' }),
      (err: unknown) => err instanceof MastoHttpError && err.statusCode === 403,
    );
    const account = await json<{ suspended_at: string | null }>('GET', `/users/${bad.username}`);
    assert.equal(account.suspended_at ?? null, null);
  });
});
