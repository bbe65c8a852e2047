/** Deleting an account through the API: deactivation, the grace period, the reserved name. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { api } from '../../../test/support/api.ts';
import { createAccount, type Account } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { assertProblem } from '../../../test/support/problems.ts';
import { lifecycleOf } from './lifecycle.ts';

let app: App;
let ctx: Context;
const { call, ok, users, follow, post } = api(() => app);

before(async () => {
  ({ app, ctx } = await createTestApp());
});

const remove = (who: Account | null, password: string) => call('DELETE', '/me', who, { password });
const loginAs = (a: Account, password = a.password) =>
  call('POST', '/auth/login', null, { login: a.username, password });
/** Lets the grace period end now, as if the days had passed. */
const endGrace = (a: Account) =>
  ctx.database.db
    .updateTable('account_deletions')
    .set({ erase_after: new Date(Date.now() - 1000) })
    .where('user_id', '=', a.id)
    .execute();

describe('DELETE /me', () => {
  it('needs the password and a signed-in user', async () => {
    const { a } = await users('a');
    assertProblem(await remove(a, 'not-the-password'), 403, 'wrong_password');
    assertProblem(await remove(null, a.password), 401, 'unauthorized');
    assertProblem(await call('DELETE', '/me', a, {}), 400, 'validation_failed');
    // Nothing was scheduled by the refusals.
    assert.equal(await lifecycleOf(ctx).deletion.find(a.id), undefined);
    await ok(call('GET', '/me', a));
  });

  it('deactivates at once: tokens refused, sessions ended, profile and name hidden', async () => {
    const { a, b } = await users('a', 'b');
    await follow(b, a);
    const res = await ok<{ status: string; erase_after: string }>(remove(a, a.password), 202);
    assert.equal(res.status, 'deactivated');
    const days = (Date.parse(res.erase_after) - Date.now()) / 86_400_000;
    assert.ok(days > 29.9 && days <= 30, `erased after ${days} days`);
    assertProblem(await call('GET', '/me', a), 401, 'invalid_token');
    assertProblem(await call('POST', '/posts', a, { text: 'still here?' }), 401, 'invalid_token');
    const refreshed = await call('POST', '/auth/refresh', null, { refresh_token: a.refreshToken });
    assertProblem(refreshed, 401, 'refresh_token_revoked');
    assertProblem(await call('GET', `/users/${a.username}`, b), 404, 'user_not_found');
    assertProblem(await call('GET', `/users/${a.username}/posts`, b), 404, 'user_not_found');
    assertProblem(await call('POST', `/users/${a.username}/follow`, b), 404, 'user_not_found');
  });

  it('logging in during the grace period cancels the deletion and restores everything', async () => {
    const { a, b } = await users('a', 'b');
    await follow(b, a);
    const p = await post(a, { text: 'before leaving' });
    await ok(remove(a, a.password), 202);
    const session = await ok<{ access_token: string }>(loginAs(a));
    const auth = { auth: { authorization: `Bearer ${session.access_token}` } };
    await ok(call('GET', '/me', auth));
    assert.equal(await lifecycleOf(ctx).deletion.find(a.id), undefined);
    const profile = await ok<{ follower_count: number }>(call('GET', `/users/${a.username}`, b));
    assert.equal(profile.follower_count, 1);
    await ok(call('GET', `/posts/${p.id}`, b));
    // Nothing is erased later: the erasure was cancelled.
    await lifecycleOf(ctx).eraser.runDue();
    await ok(call('GET', '/me', auth));
  });

  it('a wrong password during the grace period cancels nothing', async () => {
    const { a } = await users('a');
    await ok(remove(a, a.password), 202);
    assertProblem(await loginAs(a, 'wrong-password-1'), 401, 'invalid_credentials');
    assert.ok(await lifecycleOf(ctx).deletion.find(a.id));
  });

  it('after the grace period login is refused and the username stays reserved', async () => {
    const { a } = await users('a');
    await ok(remove(a, a.password), 202);
    await endGrace(a);
    assertProblem(await loginAs(a), 401, 'account_deleted');
    assert.equal(await lifecycleOf(ctx).eraser.runDue(), 1);
    assertProblem(await loginAs(a), 401, 'invalid_credentials');
    const again = await call('POST', '/auth/register', null, {
      username: a.username,
      email: `other-${a.email}`,
      password: 'another-password-1',
      dob: '1990-01-01',
    });
    assertProblem(again, 409, 'username_taken');
    // The e-mail address is free again: only the name is kept.
    await createAccount(app, { email: a.email });
  });

  it('asking twice keeps the first date', async () => {
    const { a } = await users('a');
    const first = await ok<{ erase_after: string }>(remove(a, a.password), 202);
    const row = await lifecycleOf(ctx).deletion.find(a.id);
    assert.equal(row?.erase_after.toISOString(), first.erase_after);
  });
});
