import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAccount } from '../../../test/support/factories.ts';
import { createTestApp } from '../../../test/support/harness.ts';

const { app, ctx } = await createTestApp();

describe('cached user references', () => {
  it('are filled on first use and follow a display-name change at once', async () => {
    const [ana, ben] = [await createAccount(app), await createAccount(app)];
    const follow = () =>
      app.inject({
        method: 'POST',
        url: `/api/v1/users/${ben.username}/follow`,
        headers: ana.auth,
      });
    assert.equal((await follow()).json().user.display_name, ben.username);
    assert.ok(await ctx.cache.get(`user-ref:${ben.username}`), 'the reference was cached');

    const patch = await app.inject({
      method: 'PATCH',
      url: '/api/v1/me',
      headers: ben.auth,
      payload: { display_name: 'Ben B.' },
    });
    assert.equal(patch.statusCode, 200);
    assert.equal((await follow()).json().user.display_name, 'Ben B.');
  });

  it('never serve counters: profiles stay exact after graph changes', async () => {
    const [ana, ben] = [await createAccount(app), await createAccount(app)];
    await app.inject({
      method: 'POST',
      url: `/api/v1/users/${ben.username}/follow`,
      headers: ana.auth,
    });
    assert.equal((await app.inject(`/api/v1/users/${ben.username}`)).json().follower_count, 1);
    await app.inject({
      method: 'DELETE',
      url: `/api/v1/users/${ben.username}/follow`,
      headers: ana.auth,
    });
    assert.equal((await app.inject(`/api/v1/users/${ben.username}`)).json().follower_count, 0);
  });
});
