import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { api, type Res } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';

const { app, ctx, worker } = await createTestAppWithWorker('mastodon-notifications');
after(() => worker.stop());
const m = api(app);
type Json = Record<string, unknown>;

/** Mastodon's flavour of the colliding route, asked for explicitly (kith tokens are JWTs). */
const MASTODON = { 'kith-flavour': 'mastodon' };
const call = (who: Account, method: 'GET' | 'POST', url: string, payload?: object) =>
  app.inject({
    method,
    url,
    headers: { ...who.auth, ...MASTODON },
    ...(payload ? { payload } : {}),
  });
async function ok<T = Json>(res: Promise<Res>): Promise<T> {
  const r = await res;
  assert.equal(r.statusCode, 200, r.body);
  return r.json<T>();
}

describe('Mastodon notifications', () => {
  it('lists follows, follow requests, favourites and mentions with Mastodon types', async () => {
    const [ana, ben, cy] = await m.accounts(3);
    // Each drained before the next: consumers handle events at once, in any order, and a
    // notification's place is when it was handled.
    await m.follow(ben, ana);
    await drain(ctx);
    await m.json('POST', `/users/${ana.username}/friend-request`, cy, undefined, 201);
    await drain(ctx);
    const post = await m.post(ana, { text: 'mine' });
    await m.json('POST', `/posts/${post.id}/like`, ben);
    await drain(ctx);
    await m.post(ben, { text: `hi @${ana.username}` });
    await drain(ctx);

    const list = await ok<Json[]>(call(ana, 'GET', '/api/v1/notifications'));
    assert.deepEqual(
      list.map((n) => n.type),
      ['mention', 'favourite', 'follow_request', 'follow'],
    );
    const ids = list.map((n) => String(n.id));
    assert.deepEqual(ids, [...ids].sort().reverse(), 'ids sort by time');
    assert.equal((list[1]!.status as Json).id, post.id);
    assert.equal((list[3]!.account as Json).id, ben.id);
    assert.equal(list[3]!.status, null);

    const only = await ok<Json[]>(
      call(ana, 'GET', '/api/v1/notifications?types[]=follow&types[]=mention'),
    );
    assert.deepEqual(
      only.map((n) => n.type),
      ['mention', 'follow'],
    );
    const but = await ok<Json[]>(call(ana, 'GET', '/api/v1/notifications?exclude_types[]=mention'));
    assert.equal(but.length, 3);
    const paged = await call(
      ana,
      'GET',
      '/api/v1/notifications?limit=2&types[]=follow&types[]=favourite&types[]=follow_request',
    );
    assert.equal(paged.json<Json[]>().length, 2);
    assert.match(String(paged.headers.link), /types%5B%5D=follow&.*max_id=/);

    // kith's own route still answers kith clients.
    const own = await m.json<{ items: unknown[] }>('GET', '/notifications', ana);
    assert.ok(Array.isArray(own.items));

    const one = await ok(call(ana, 'GET', `/api/v1/notifications/${ids[0]}`));
    assert.equal(one.type, 'mention');
    assert.deepEqual(await ok(call(ana, 'POST', `/api/v1/notifications/${ids[0]}/dismiss`)), {});
    assert.equal((await call(ana, 'GET', `/api/v1/notifications/${ids[0]}`)).statusCode, 404);
    assert.equal(
      (await call(ben, 'POST', `/api/v1/notifications/${ids[1]}/dismiss`)).statusCode,
      404,
      'not hers',
    );
    const count = await ok<{ count: number }>(
      call(ana, 'GET', '/api/v1/notifications/unread_count'),
    );
    assert.equal(count.count, 3);
    assert.deepEqual(await ok(call(ana, 'POST', '/api/v1/notifications/clear')), {});
    assert.deepEqual(await ok(call(ana, 'GET', '/api/v1/notifications')), []);
  });

  it('keeps markers; the notifications marker marks kith notifications read', async () => {
    const [ana, ben] = await m.accounts(2);
    await m.follow(ben, ana);
    await drain(ctx);
    const [newest] = await ok<{ id: string }[]>(call(ana, 'GET', '/api/v1/notifications'));
    const fresh = await ok<Json>(
      call(ana, 'GET', '/api/v1/markers?timeline[]=home&timeline[]=notifications'),
    );
    assert.deepEqual(Object.keys(fresh).sort(), ['home', 'notifications']);
    assert.equal((fresh.notifications as Json).version, 0);
    // Concurrent writes (as two apps of one user): each one counts.
    const writes = await Promise.all(
      [1, 2, 3, 4].map(() =>
        app.inject({
          method: 'POST',
          url: '/api/v1/markers',
          headers: { ...ana.auth, 'content-type': 'application/x-www-form-urlencoded' },
          payload: `notifications%5Blast_read_id%5D=${newest!.id}`,
        }),
      ),
    );
    for (const w of writes) assert.equal(w.statusCode, 200, w.body);
    const versions = writes.map(
      (w) => w.json<{ notifications: Json }>().notifications.version as number,
    );
    assert.deepEqual(versions.sort(), [1, 2, 3, 4]);
    const marker = await ok<{ notifications: Json }>(
      call(ana, 'GET', '/api/v1/markers?timeline=notifications'),
    );
    assert.equal(marker.notifications.last_read_id, newest!.id);
    assert.equal(marker.notifications.version, 4);
    const count = await ok<{ count: number }>(
      call(ana, 'GET', '/api/v1/notifications/unread_count'),
    );
    assert.equal(count.count, 0);
    const bad = await call(ana, 'POST', '/api/v1/markers', { home: { last_read_id: 'x' } });
    assert.equal(bad.statusCode, 422);
  });
});
