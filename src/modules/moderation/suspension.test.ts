import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import type { Account } from '../../../test/support/factories.ts';
import { assertProblem } from '../../../test/support/problems.ts';
import { api, type Page } from '../../../test/support/api.ts';
import { openStream, terminateStreams } from '../../../test/support/streams.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { ACCOUNT_SUSPENDED_CLOSE } from '../realtime/stream.routes.ts';
import { adminCommand } from '../../cli/admin.ts';

const { app, ctx, worker } = await createTestAppWithWorker('suspension');
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
after(async () => {
  terminateStreams();
  await worker.stop();
});

const { call, ok, users, post, follow } = api(app);
const staff = async () => {
  const { mod } = await users('mod');
  assert.equal(await adminCommand(['grant', mod.username, 'moderator'], ctx), 0);
  return mod;
};
const act = (mod: Account, action: string, target: Account, reason = 'rules') =>
  call('POST', `/admin/accounts/${target.username}/${action}`, mod, { reason });
const stream = (who: Account) =>
  openStream(`${base.replace('http', 'ws')}/api/v1/stream`, who.auth);
const mailTo = (email: string) =>
  readdirSync(ctx.config.mailDir)
    .map((f) => readFileSync(`${ctx.config.mailDir}/${f}`, 'utf8'))
    .filter((m) => m.includes(`To: ${email}`));

describe('suspend', () => {
  it('ends every session and stream at once and hides the account and what it made', async () => {
    const { bad, fan, friend } = await users('bad', 'fan', 'friend');
    const mod = await staff();
    await follow(fan, bad);
    await follow(bad, friend);
    const p = await post(bad, { text: 'mine' });
    const onFriend = await post(friend, { text: 'hi' });
    await ok(call('POST', `/posts/${onFriend.id}/comments`, bad, { text: 'hey' }), 201);
    const open = await stream(bad);
    await open.count(1); // ready

    const suspended = Date.now();
    const res = await ok<{ suspended_at: string | null }>(act(mod, 'suspend', bad, 'spam wave'));
    assert.ok(res.suspended_at);
    assert.equal(await open.closed, ACCOUNT_SUSPENDED_CLOSE);
    assert.ok(Date.now() - suspended < 1000, 'stream closed within a second');

    // The suspended user can do nothing: old access token, refresh, login.
    assertProblem(await call('GET', '/me', bad), 403, 'account_suspended');
    assertProblem(await call('POST', '/posts', bad, { text: 'x' }), 403, 'account_suspended');
    assertProblem(
      await call('POST', '/auth/refresh', null, { refresh_token: bad.refreshToken }),
      401,
      'refresh_token_revoked',
    );
    assertProblem(
      await call('POST', '/auth/login', null, { login: bad.username, password: bad.password }),
      403,
      'account_suspended',
    );
    // To everyone else, the account and its content are gone.
    for (const who of [null, fan, friend]) {
      assertProblem(await call('GET', `/users/${bad.username}`, who), 404, 'user_not_found');
      assertProblem(await call('GET', `/posts/${p.id}`, who), 404, 'post_not_found');
      assertProblem(await call('GET', `/users/${bad.username}/posts`, who), 404, 'user_not_found');
    }
    const comments = await ok<Page<unknown>>(call('GET', `/posts/${onFriend.id}/comments`, friend));
    assert.equal(comments.items.length, 0);
    const followers = await ok<Page<{ username: string }>>(
      call('GET', `/users/${friend.username}/followers`, friend),
    );
    assert.ok(!followers.items.some((u) => u.username === bad.username));
    const feed = await ok<Page<{ id: string }>>(call('GET', '/feed', fan));
    assert.ok(!feed.items.some((i) => i.id === p.id));
    assertProblem(await act(mod, 'suspend', bad), 409, 'already_suspended');

    // The user is told by mail, with the reason.
    const mail = await waitFor(
      () => mailTo(bad.email).find((m) => m.includes('suspended')),
      'mail',
    );
    assert.match(mail, /spam wave/);

    // Unsuspend: everything comes back; old sessions stay ended, a new login works.
    await ok(act(mod, 'unsuspend', bad));
    assertProblem(await call('GET', '/me', bad), 401, 'session_revoked');
    const again = await ok<{ access_token: string }>(
      call('POST', '/auth/login', null, { login: bad.username, password: bad.password }),
    );
    assert.ok(again.access_token);
    await ok(call('GET', `/users/${bad.username}`, null));
    await ok(call('GET', `/posts/${p.id}`, fan));
    const back = await ok<Page<unknown>>(call('GET', `/posts/${onFriend.id}/comments`, friend));
    assert.equal(back.items.length, 1);
    assertProblem(await act(mod, 'unsuspend', bad), 409, 'not_suspended');
  });
});
