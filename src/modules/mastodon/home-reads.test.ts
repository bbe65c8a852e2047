/**
 * The Mastodon home timeline is kith's feed presented as Statuses (issue 19: within 20 % of the
 * feed's speed): with the timeline and the caches warm, a page runs no SQL, with an OAuth token
 * as apps send; the accounts shown beside the statuses come from the user cards, which follow a
 * profile or picture change at once.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { api } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import { createTestAppWithWorker, type TestApp } from '../../../test/support/harness.ts';
import { multipartForm, testImage } from '../../../test/support/media.ts';
import { bearer, registerApp, userToken } from '../../../test/support/oauth-apps.ts';
import { waitFor } from '../../../test/support/wait.ts';

const t = await createTestAppWithWorker('mastodon-home-reads');
after(() => t.worker.stop());
const { app, ctx } = t;
const { users, follow, post } = api(app);
const client = await registerApp(app);

type Status = {
  id: string;
  content: string;
  account: { id: string; display_name: string; avatar: string };
};

const ROUTE = '/api/v1/timelines/home';
/** SQL statements sent by home-timeline requests so far, and how many such requests ended. */
async function statements(c: TestApp['ctx']) {
  const { values } = await c.metrics.httpDbStatements.get();
  const of = (name: string) =>
    values.find((v) => v.metricName === name && v.labels.route === ROUTE)?.value ?? 0;
  return { sum: of('kith_http_db_statements_sum'), count: of('kith_http_db_statements_count') };
}

describe('Mastodon home timeline reads', () => {
  it('a warm page runs no SQL, with an OAuth token', async () => {
    await waitFor(() => ctx.redisBreaker?.up ?? true, 'redis in use');
    const { ana, ben, cal } = await users('ana', 'ben', 'cal');
    await follow(ana, ben);
    await follow(ana, cal);
    const posted = [
      (await post(ben, { text: `hello @${ana.username} and @${cal.username}` })).id,
      (await post(cal, { text: 'second' })).id,
    ];
    await drain(ctx);
    const token = await userToken(app, client, ana, 'read');
    const read = () => app.inject({ url: `${ROUTE}?limit=20`, headers: bearer(token) });
    await read(); // builds the timeline and fills the caches
    await read();

    const start = await statements(ctx);
    const res = await read();
    assert.equal(res.statusCode, 200, res.body);
    await waitFor(async () => (await statements(ctx)).count > start.count, 'the read counted');
    assert.equal((await statements(ctx)).sum - start.sum, 0, 'statements for a warm page');
    const statuses = res.json<Status[]>();
    assert.deepEqual(
      statuses.map((s) => s.id),
      [...posted].reverse(),
    );
    // The mentions are linked from the cached references.
    assert.match(statuses[1]!.content, new RegExp(`/@${cal.username}"`));
  });

  it('a new display name and avatar show in the next page', async () => {
    const { dot, eli } = await users('dot', 'eli');
    await follow(dot, eli);
    await post(eli, { text: 'picture me' });
    await drain(ctx);
    const token = await userToken(app, client, dot, 'read');
    const account = async () =>
      (await app.inject({ url: ROUTE, headers: bearer(token) })).json<Status[]>()[0]!.account;
    const before = await account();
    assert.equal(before.display_name, eli.username);

    const eliToken = await userToken(app, client, eli, 'write');
    const form = multipartForm([
      { name: 'display_name', data: 'Eli E.' },
      {
        name: 'avatar',
        data: await testImage('png', 64, 64),
        filename: 'a.png',
        type: 'image/png',
      },
    ]);
    const patched = await app.inject({
      method: 'PATCH',
      url: '/api/v1/accounts/update_credentials',
      headers: { ...bearer(eliToken), ...form.headers },
      payload: form.payload,
    });
    assert.equal(patched.statusCode, 200, patched.body);
    const after = await account();
    assert.equal(after.display_name, 'Eli E.');
    assert.notEqual(after.avatar, before.avatar);
    assert.equal(after.avatar, patched.json<{ avatar: string }>().avatar);
  });
});
