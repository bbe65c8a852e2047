/**
 * The authorization matrix of the data-export routes (account deletion, `DELETE /me`, is in
 * routes.test.ts with the other `/me` routes).
 *
 * Viewers: anonymous, an unrelated user (other), a user O blocked (B), a user who blocked O (X),
 * and the owner O. Nobody can name another account on `/me/export`: each caller acts on their
 * own export and O's must stay untouched and unseen. The download link is the secret itself
 * (it is mailed; no sign-in): only the exact token opens it, whoever presents it.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lifecycleOf } from '../../src/modules/lifecycle/lifecycle.ts';
import { assertAreaCovered, requester } from '../support/authorization-scope.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'kith-authz-export-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
const { app, ctx } = await createTestApp({
  env: { DATA_DIR: dataDir, EXPORT_MIN_INTERVAL_HOURS: '0' },
});
const { call, must } = requester(app);
const user = (role: string) => createAccount(app, { username: uniqueUsername(role) });
const O = await user('owner');
const others: Record<'other' | 'B' | 'X', Account> = {
  other: await user('other'),
  B: await user('b'),
  X: await user('x'),
};
await must(O, 'POST', `/users/${others.B.username}/block`, 200);
await must(others.X, 'POST', `/users/${O.username}/block`, 200);

/** O's export, built as the worker would, and the token of the link mailed to O. */
const started = (await must(O, 'POST', '/me/export', 202)).json<{ id: string }>();
await lifecycleOf(ctx).exports.build(started.id);
const mail = readdirSync(ctx.config.mailDir)
  .map((f) => readFileSync(join(ctx.config.mailDir, f), 'utf8').replace(/=\r?\n/g, ''))
  .find((m) => m.includes(O.email) && m.includes('/api/v1/exports/'));
const TOKEN = /\/api\/v1\/exports\/([A-Za-z0-9_-]{43})/.exec(mail ?? '')?.[1];
assert.ok(TOKEN, 'the export mail carries its link');
const stateOf = async (who: Account) =>
  (await must(who, 'GET', '/me/export', 200)).json<{ id: string; status: string }>();

describe('data export routes: authorization matrix', () => {
  const covered = new Set<string>();
  const route = (key: string) => covered.add(key.replace(' /', ' /api/v1/'));

  route('POST /me/export');
  route('GET /me/export');
  it('anonymous: 401 on /me/export', async () => {
    assertProblem(await call(null, 'POST', '/me/export'), 401, 'unauthorized');
    assertProblem(await call(null, 'GET', '/me/export'), 401, 'unauthorized');
  });
  for (const who of ['other', 'B', 'X'] as const) {
    it(`${who} starts and sees only their own export; O's is untouched`, async () => {
      const me = others[who];
      const mine = (await must(me, 'POST', '/me/export', 202)).json<{ id: string }>();
      assert.notEqual(mine.id, started.id);
      assert.equal((await stateOf(me)).id, mine.id);
      const owners = await stateOf(O);
      assert.deepEqual([owners.id, owners.status], [started.id, 'ready']);
    });
  }
  it('O sees their own export, ready', async () => {
    assert.deepEqual(await stateOf(O), { ...(await stateOf(O)), id: started.id, status: 'ready' });
  });

  route('GET /exports/:token');
  for (const who of ['anon', 'other', 'B', 'X', 'O'] as const) {
    const me = who === 'anon' ? null : who === 'O' ? O : others[who];
    it(`${who}: only the exact token opens the archive`, async () => {
      const tampered = TOKEN.slice(0, -1) + (TOKEN.endsWith('A') ? 'B' : 'A');
      assertProblem(await call(me, 'GET', `/exports/${tampered}`), 404, 'export_not_found');
      const res = await call(me, 'GET', `/exports/${TOKEN}`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['cache-control'], 'no-store');
    });
  }
  it('a malformed token is refused before any look-up', async () => {
    assertProblem(
      await call(null, 'GET', '/exports/..%2F..%2Fjwt-secret'),
      400,
      'validation_failed',
    );
  });

  it('a deactivated account can no longer ask for or see an export', async () => {
    const leaving = await createAccount(app, { username: uniqueUsername('leaving') });
    await must(leaving, 'DELETE', '/me', 202, { password: leaving.password });
    assertProblem(await call(leaving, 'POST', '/me/export'), 401, 'invalid_token');
    assertProblem(await call(leaving, 'GET', '/me/export'), 401, 'invalid_token');
  });

  it('covers every data-export route', () => {
    assertAreaCovered(app, 'lifecycle', covered);
  });
});
