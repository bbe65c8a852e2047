import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { api, type Res } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { filesUnder, multipartForm, testImage } from '../../../test/support/media.ts';

const mediaDir = mkdtempSync(join(tmpdir(), 'kith-masto-media-'));
after(() => rmSync(mediaDir, { recursive: true, force: true }));
const { app, ctx, worker } = await createTestAppWithWorker('mastodon-media', {
  env: { MEDIA_DIR: mediaDir, PUBLIC_URL: 'http://kith.test', MEDIA_MAX_BYTES: '200000' },
});
after(() => worker.stop());
const m = api(app);
const { db } = ctx.database;

type Json = Record<string, unknown>;
type Attachment = {
  id: string;
  type: string;
  url: string;
  preview_url: string;
  description: string | null;
  blurhash: string;
  meta: { original: { width: number }; focus: { x: number; y: number } };
};
type Status = { id: string; media_attachments: Attachment[] };

/** Mastodon's flavour of the routes kith's API also has (kith tokens are JWTs). */
const MASTODON = { 'kith-flavour': 'mastodon' };

const call = (who: Account | null, method: 'GET' | 'POST' | 'PUT', url: string, payload?: object) =>
  app.inject({
    method,
    url,
    headers: { ...who?.auth, ...MASTODON },
    ...(payload ? { payload } : {}),
  });
async function ok<T = Json>(res: Promise<Res> | Res): Promise<T> {
  const r = await res;
  assert.equal(r.statusCode, 200, r.body);
  return r.json<T>();
}

function upload(
  who: Account | null,
  file: Buffer,
  fields: Record<string, string> = {},
  url = '/api/v2/media',
) {
  const form = multipartForm([
    ...Object.entries(fields).map(([name, data]) => ({ name, data })),
    { name: 'file', data: file, filename: 'x.png', type: 'image/png' },
  ]);
  return app.inject({
    method: 'POST',
    url,
    payload: form.payload,
    headers: { ...form.headers, ...who?.auth, ...MASTODON },
  });
}
const uploaded = async (who: Account, fields: Record<string, string> = {}) =>
  ok<Attachment>(upload(who, await testImage('png', 40, 30), fields));
const mediaRows = async () =>
  Number(
    (
      await db
        .selectFrom('media')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('Mastodon media', () => {
  it('v2 and v1 uploads: a MediaAttachment, processed at once; GET and PUT by its owner', async () => {
    const [ana] = await m.accounts(1);
    const v2 = await uploaded(ana, { description: 'a square', focus: '0.5,-0.5' });
    assert.equal(v2.type, 'image');
    assert.match(v2.url, /^http:\/\/kith\.test\/media\//);
    assert.match(v2.preview_url, /-small\.webp$/);
    assert.equal(v2.description, 'a square');
    assert.deepEqual(v2.meta.focus, { x: 0.5, y: -0.5 });
    assert.equal(v2.meta.original.width, 40);
    for (const k of ['remote_url', 'preview_remote_url', 'text_url', 'blurhash'])
      assert.ok(k in v2, k);

    const v1 = await ok<Attachment>(
      upload(ana, await testImage('jpeg', 20, 20), {}, '/api/v1/media'),
    );
    assert.equal(v1.description, null);

    const got = await ok<Attachment>(call(ana, 'GET', `/api/v1/media/${v2.id}`));
    assert.equal(got.url, v2.url);
    const put = await ok<Attachment>(
      call(ana, 'PUT', `/api/v1/media/${v1.id}`, { description: 'now described', focus: '0,1' }),
    );
    assert.equal(put.description, 'now described');
    assert.deepEqual(put.meta.focus, { x: 0, y: 1 });
  });

  it('another user’s media is 404; anonymous is 401; a bad file is refused and leaves nothing', async () => {
    const [ana, ben] = await m.accounts(2);
    const mine = await uploaded(ana);
    for (const res of [
      await call(ben, 'GET', `/api/v1/media/${mine.id}`),
      await call(ben, 'PUT', `/api/v1/media/${mine.id}`, { description: 'mine now' }),
      await call(ana, 'GET', '/api/v1/media/not-an-id'),
    ]) {
      assert.equal(res.statusCode, 404, res.body);
      assert.equal(res.json<Json>().error, 'Record not found');
    }
    assert.equal((await call(null, 'GET', `/api/v1/media/${mine.id}`)).statusCode, 401);
    assert.equal((await upload(null, await testImage('png'))).statusCode, 401);

    const [rows, files] = [await mediaRows(), filesUnder(mediaDir).length];
    const bad = await upload(ana, Buffer.from('not a picture at all'));
    assert.equal(bad.statusCode, 422, bad.body);
    assert.equal(bad.json<Json>().code, 'media_not_an_image');
    const big = await upload(ana, await testImage('png', 400, 400));
    assert.equal(big.statusCode, 413, big.body);
    assert.equal(big.json<Json>().code, 'media_too_large');
    assert.equal(await mediaRows(), rows);
    assert.equal(filesUnder(mediaDir).length, files);
  });

  it('media_ids[] on statuses: attached in order and shown in every status presentation', async () => {
    const [ana, ben] = await m.accounts(2);
    await m.follow(ben, ana);
    const [one, two] = [await uploaded(ana, { description: 'one' }), await uploaded(ana)];
    const status = await ok<Status>(
      call(ana, 'POST', '/api/v1/statuses', {
        status: 'two pictures',
        media_ids: [two.id, one.id],
      }),
    );
    const ids = (s: Status) => s.media_attachments.map((a) => a.id);
    assert.deepEqual(ids(status), [two.id, one.id]);
    assert.equal(status.media_attachments[1]!.description, 'one');
    await m.json('POST', `/posts/${status.id}/like`, ben);
    await drain(ctx);

    const single = await ok<Status>(call(ben, 'GET', `/api/v1/statuses/${status.id}`));
    const account = await ok<Status[]>(call(ben, 'GET', `/api/v1/accounts/${ana.id}/statuses`));
    const onlyMedia = await ok<Status[]>(
      call(ben, 'GET', `/api/v1/accounts/${ana.id}/statuses?only_media=true`),
    );
    const home = await ok<Status[]>(call(ben, 'GET', '/api/v1/timelines/home'));
    const notes = await ok<{ type: string; status: Status }[]>(
      call(ana, 'GET', '/api/v1/notifications'),
    );
    const favourite = notes.find((n) => n.type === 'favourite')!;
    for (const seen of [
      single,
      account[0]!,
      onlyMedia[0]!,
      home.find((s) => s.id === status.id)!,
      favourite.status,
    ])
      assert.deepEqual(ids(seen), [two.id, one.id]);

    // An edit replaces the list; absent media_ids leave it as it is.
    const three = await uploaded(ana);
    const edited = await ok<Status>(
      call(ana, 'PUT', `/api/v1/statuses/${status.id}`, {
        status: 'edited',
        media_ids: [one.id, three.id],
      }),
    );
    assert.deepEqual(ids(edited), [one.id, three.id]);
    const kept = await ok<Status>(
      call(ana, 'PUT', `/api/v1/statuses/${status.id}`, { status: 'again' }),
    );
    assert.deepEqual(ids(kept), [one.id, three.id]);
    // The upload let go by the edit is free again: its owner may still see it.
    await ok(call(ana, 'GET', `/api/v1/media/${two.id}`));
  });

  it('media_ids refused: another user’s, already on another status, too many, malformed', async () => {
    const [ana, ben] = await m.accounts(2);
    const theirs = await uploaded(ben);
    const used = await uploaded(ana);
    await ok(call(ana, 'POST', '/api/v1/statuses', { status: 'first', media_ids: [used.id] }));
    const five = [];
    for (let i = 0; i < 5; i++) five.push((await uploaded(ana)).id);
    const before = await ok<Status[]>(call(ana, 'GET', `/api/v1/accounts/${ana.id}/statuses`));
    for (const [media_ids, code] of [
      [[theirs.id], 'validation_failed'],
      [[used.id], 'validation_failed'],
      [five, 'too_many_media'],
      [['12345'], 'validation_failed'],
    ] as const) {
      const res = await call(ana, 'POST', '/api/v1/statuses', { status: 'x', media_ids });
      assert.equal(res.statusCode, 422, res.body);
      assert.equal(res.json<Json>().code, code);
    }
    const after = await ok<Status[]>(call(ana, 'GET', `/api/v1/accounts/${ana.id}/statuses`));
    assert.equal(after.length, before.length, 'nothing half-written');
    const free = await db
      .selectFrom('media')
      .select('id')
      .where('owner_id', '=', ana.id)
      .where('post_id', 'is', null)
      .execute();
    assert.equal(free.length, 5);
  });
});
