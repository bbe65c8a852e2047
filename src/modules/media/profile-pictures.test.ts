import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import ExifReader from 'exifreader';
import sharp from 'sharp';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { api } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { drain } from '../../../test/support/drain.ts';
import {
  filesUnder,
  multipartForm,
  pngBomb,
  testImage,
  type FormPart,
} from '../../../test/support/media.ts';
import { assertProblem } from '../../../test/support/problems.ts';

type Me = { avatar_url: string; header_url: string; display_name: string };
type MastoAccount = {
  avatar: string;
  avatar_static: string;
  header: string;
  header_static: string;
};

const mediaDir = mkdtempSync(join(tmpdir(), 'kith-pictures-'));
after(() => rmSync(mediaDir, { recursive: true, force: true }));
const t = await createTestAppWithWorker('profile-pictures', {
  env: { MEDIA_DIR: mediaDir, PUBLIC_URL: 'http://kith.test', MEDIA_MAX_BYTES: '400000' },
});
after(() => t.worker.stop());
const a = api(t.app);
const { db } = t.ctx.database;

const DEFAULT_AVATAR = 'http://kith.test/avatars/original/missing.png';
const DEFAULT_HEADER = 'http://kith.test/headers/original/missing.png';

const file = (name: string, data: Buffer): FormPart => ({
  name,
  data,
  filename: 'me.jpg',
  type: 'image/jpeg',
});

/** A smooth picture (compresses well, unlike testImage's noise) of any size. */
const plain = (format: 'jpeg' | 'png' | 'webp', width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#5a8' } })
    .toFormat(format)
    .toBuffer();

/** PATCH `url` as `who` with a multipart form. */
function sendForm(who: Account | null, parts: FormPart[], url = '/api/v1/me', method = 'PATCH') {
  const form = multipartForm(parts);
  return t.app.inject({
    method: method as 'PATCH',
    url,
    payload: form.payload,
    headers: { ...form.headers, ...who?.auth },
  });
}

async function patchMe(who: Account, parts: FormPart[]): Promise<Me> {
  const res = await sendForm(who, parts);
  assert.equal(res.statusCode, 200, res.body);
  return res.json<Me>();
}

/** The picture behind a URL kith serves from disk. */
async function served(url: string) {
  const res = await t.app.inject({ method: 'GET', url: new URL(url).pathname });
  assert.equal(res.statusCode, 200, res.body);
  return res;
}

const keyOf = (url: string) => new URL(url).pathname.slice('/media/'.length);
const onDisk = (url: string) => filesUnder(mediaDir).includes(keyOf(url));
const rowsOf = (userId: string) =>
  db
    .selectFrom('media')
    .select(['purpose', 'url', 'deleted_at'])
    .where('owner_id', '=', userId)
    .orderBy('created_at')
    .execute();

describe('avatars and headers through PATCH /me', () => {
  test('unset: kith’s defaults, served as PNG with cache headers', async () => {
    const { u } = await a.users('u');
    const me = await a.json<Me>('GET', '/me', u);
    assert.equal(me.avatar_url, DEFAULT_AVATAR);
    assert.equal(me.header_url, DEFAULT_HEADER);
    for (const [url, size] of [
      [DEFAULT_AVATAR, [400, 400]],
      [DEFAULT_HEADER, [1500, 500]],
    ] as const) {
      const res = await served(url);
      assert.equal(res.headers['content-type'], 'image/png');
      assert.match(String(res.headers['cache-control']), /^public, max-age=\d+/);
      const meta = await sharp(res.rawPayload).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', ...size]);
    }
  });

  test('set both with the text fields: cropped, no metadata, shown on the profile', async () => {
    const { u, v } = await a.users('u', 'v');
    const photo = await sharp(await plain('jpeg', 900, 600))
      .withExif({ IFD0: { Make: 'KithCam', Model: 'Serial 12345' } })
      .jpeg()
      .toBuffer();
    const me = await patchMe(u, [
      { name: 'display_name', data: 'Pictured' },
      file('avatar', photo),
      file('header', await plain('png', 2000, 900)),
    ]);
    assert.equal(me.display_name, 'Pictured');
    assert.match(me.avatar_url, /^http:\/\/kith\.test\/media\/[0-9a-f]{2}\/[0-9a-f]{32}\.jpg$/);
    assert.match(me.header_url, /^http:\/\/kith\.test\/media\/[0-9a-f]{2}\/[0-9a-f]{32}\.png$/);
    const avatar = (await served(me.avatar_url)).rawPayload;
    const header = (await served(me.header_url)).rawPayload;
    const [am, hm] = [await sharp(avatar).metadata(), await sharp(header).metadata()];
    assert.deepEqual([am.width, am.height, hm.width, hm.height], [400, 400, 1500, 500]);
    assert.equal(ExifReader.load(avatar, { expanded: true }).exif, undefined, 'no EXIF');
    assert.ok(!avatar.includes('KithCam'));
    // Another user sees the same pictures on the profile.
    const profile = await a.json<Me>('GET', `/users/${u.username}`, v);
    assert.deepEqual([profile.avatar_url, profile.header_url], [me.avatar_url, me.header_url]);
    // Recorded as media rows of the owner, so every file of theirs is found from the database.
    const rows = (await rowsOf(u.id)).map((r) => `${r.purpose} ${r.url}`).sort();
    assert.deepEqual(rows, [`avatar ${me.avatar_url}`, `header ${me.header_url}`]);
  });

  test('replace: the old file and row go after the commit (media.deleted)', async () => {
    const { u } = await a.users('u');
    const first = await patchMe(u, [file('avatar', await testImage('png', 300, 300))]);
    const second = await patchMe(u, [file('avatar', await testImage('webp', 300, 300))]);
    assert.notEqual(first.avatar_url, second.avatar_url);
    await drain(t.ctx);
    assert.equal(onDisk(first.avatar_url), false, 'old file removed');
    assert.equal(onDisk(second.avatar_url), true);
    assert.deepEqual(
      (await rowsOf(u.id)).map((r) => r.url),
      [second.avatar_url],
    );
  });

  test('remove: multipart `avatar=`, JSON null, DELETE /me/header', async () => {
    const { u } = await a.users('u');
    const set = await patchMe(u, [
      file('avatar', await testImage('png', 100, 100)),
      file('header', await testImage('png', 300, 100)),
    ]);
    const removed = await patchMe(u, [{ name: 'avatar', data: '' }]);
    assert.equal(removed.avatar_url, DEFAULT_AVATAR);
    assert.equal(removed.header_url, set.header_url, 'the header stays');
    const again = await patchMe(u, [file('avatar', await testImage('png', 100, 100))]);
    const json = await a.json<Me>('PATCH', '/me', u, { avatar: null, bio: 'still JSON' });
    assert.equal(json.avatar_url, DEFAULT_AVATAR);
    const deleted = await a.json<Me>('DELETE', '/me/header', u);
    assert.equal(deleted.header_url, DEFAULT_HEADER);
    await drain(t.ctx);
    for (const url of [set.avatar_url, set.header_url, again.avatar_url])
      assert.equal(onDisk(url), false);
    assert.deepEqual(await rowsOf(u.id), []);
  });

  describe('refused pictures change nothing and leave nothing behind', () => {
    const cases: [string, () => Promise<Buffer>, number, string][] = [
      [
        'not an image',
        async () => Buffer.from('%PDF-1.7 not a picture'),
        422,
        'media_not_an_image',
      ],
      ['a decompression bomb', () => pngBomb(), 422, 'media_too_many_pixels'],
      [
        'a truncated JPEG',
        async () => (await testImage('jpeg', 300, 300)).subarray(0, 2000),
        422,
        'media_corrupt',
      ],
      ['an oversized file', () => testImage('png', 400, 400), 413, 'media_too_large'],
    ];
    for (const [what, make, status, code] of cases) {
      test(`${what}: ${status} ${code}`, async () => {
        const { u } = await a.users('u');
        const files = filesUnder(mediaDir).length;
        const res = await sendForm(u, [
          { name: 'display_name', data: 'Changed' },
          file('header', await testImage('png', 90, 30)),
          file('avatar', await make()),
        ]);
        assertProblem(res, status, code);
        const me = await a.json<Me>('GET', '/me', u);
        assert.notEqual(me.display_name, 'Changed');
        assert.deepEqual([me.avatar_url, me.header_url], [DEFAULT_AVATAR, DEFAULT_HEADER]);
        assert.deepEqual(await rowsOf(u.id), []);
        assert.equal(filesUnder(mediaDir).length, files);
      });
    }

    test('a bad text field: 400 before any picture is stored', async () => {
      const { u } = await a.users('u');
      const files = filesUnder(mediaDir).length;
      const res = await sendForm(u, [
        { name: 'dm_policy', data: 'sometimes' },
        file('avatar', await testImage('png', 50, 50)),
      ]);
      assertProblem(res, 400, 'validation_failed');
      assert.deepEqual(await rowsOf(u.id), []);
      assert.equal(filesUnder(mediaDir).length, files);
    });

    test('an unexpected file part: 400 unexpected_file', async () => {
      const { u } = await a.users('u');
      assertProblem(
        await sendForm(u, [file('banner', await testImage('png', 50, 50))]),
        400,
        'unexpected_file',
      );
    });
  });

  test('anonymous: 401; an avatar is no post media (not listed, not attachable, not purged)', async () => {
    assertProblem(
      await sendForm(null, [file('avatar', await testImage('png'))]),
      401,
      'unauthorized',
    );
    assertProblem(await a.call('DELETE', '/me/avatar'), 401, 'unauthorized');
    const { u } = await a.users('u');
    const me = await patchMe(u, [file('avatar', await testImage('png', 64, 64))]);
    const [row] = await db
      .selectFrom('media')
      .select('id')
      .where('url', '=', me.avatar_url)
      .execute();
    assertProblem(await a.call('GET', `/media/${row!.id}`, u), 404, 'media_not_found');
    const res = await a.call('POST', '/posts', u, { text: 'x', media_ids: [row!.id] });
    assertProblem(res, 400, 'validation_failed');
    await t.ctx.media.purgeUnattached(-1);
    assert.equal(onDisk(me.avatar_url), true);
    assert.equal((await a.json<Me>('GET', '/me', u)).avatar_url, me.avatar_url);
  });
});

describe('Mastodon update_credentials and /api/v1/profile', () => {
  const masto = { 'kith-flavour': 'mastodon' };

  test('multipart avatar and header; shown on the account everywhere; removed by DELETE', async () => {
    const { u, v } = await a.users('u', 'v');
    const form = multipartForm([
      { name: 'note', data: 'hello' },
      file('avatar', await plain('jpeg', 500, 500)),
      file('header', await plain('webp', 1600, 600)),
    ]);
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/accounts/update_credentials',
      payload: form.payload,
      headers: { ...form.headers, ...u.auth, ...masto },
    });
    assert.equal(res.statusCode, 200, res.body);
    const account = res.json<MastoAccount & { note: string }>();
    assert.equal(account.note, '<p>hello</p>');
    assert.match(account.avatar, /^http:\/\/kith\.test\/media\/.+\.jpg$/);
    assert.equal(account.avatar_static, account.avatar);
    assert.match(account.header, /\.webp$/);
    assert.equal(account.header_static, account.header);
    const seen = (
      await t.app.inject({ method: 'GET', url: `/api/v1/accounts/${u.id}`, headers: v.auth })
    ).json<MastoAccount>();
    assert.deepEqual([seen.avatar, seen.header], [account.avatar, account.header]);
    const status = await t.app.inject({
      method: 'POST',
      url: '/api/v1/statuses',
      headers: u.auth,
      payload: { status: 'with a face' },
    });
    assert.equal(status.json<{ account: MastoAccount }>().account.avatar, account.avatar);

    const del = await t.app.inject({
      method: 'DELETE',
      url: '/api/v1/profile/avatar',
      headers: { ...u.auth, ...masto },
    });
    assert.equal(del.statusCode, 200, del.body);
    assert.equal(
      del.json<MastoAccount>().avatar,
      'http://localhost:80/avatars/original/missing.png',
    );
    assert.equal(del.json<MastoAccount>().header, account.header);
    await drain(t.ctx);
    assert.equal(onDisk(account.avatar), false);
    assert.equal(onDisk(account.header), true);
  });

  test('a bad avatar: Mastodon 422, nothing changed; anonymous 401', async () => {
    const { u } = await a.users('u');
    const form = multipartForm([
      { name: 'display_name', data: 'Changed' },
      file('avatar', await pngBomb()),
    ]);
    const res = await t.app.inject({
      method: 'PATCH',
      url: '/api/v1/accounts/update_credentials',
      payload: form.payload,
      headers: { ...form.headers, ...u.auth },
    });
    assert.equal(res.statusCode, 422, res.body);
    assert.equal(res.json<{ code: string }>().code, 'media_too_many_pixels');
    assert.notEqual((await a.json<Me>('GET', '/me', u)).display_name, 'Changed');
    assert.deepEqual(await rowsOf(u.id), []);
    const anon = await t.app.inject({ method: 'DELETE', url: '/api/v1/profile/header' });
    assert.equal(anon.statusCode, 401);
  });
});
