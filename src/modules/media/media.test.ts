import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import ExifReader from 'exifreader';
import { fileTypeFromBuffer } from 'file-type';
import sharp from 'sharp';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { api } from '../../../test/support/api.ts';
import { filesUnder, pngBomb, testImage, uploadMedia } from '../../../test/support/media.ts';
import { assertProblem } from '../../../test/support/problems.ts';

type MediaBody = {
  id: string;
  url: string;
  preview_url: string;
  blurhash: string;
  description: string | null;
  meta: {
    original: { width: number; height: number };
    small: { width: number; height: number };
    focus: { x: number; y: number };
  };
};

const mediaDir = mkdtempSync(join(tmpdir(), 'kith-media-'));
after(() => rmSync(mediaDir, { recursive: true, force: true }));
const t = await createTestAppWithWorker('media', {
  env: {
    MEDIA_DIR: mediaDir,
    MEDIA_MAX_BYTES: '400000',
    MEDIA_MAX_PIXELS: '4000000',
    MEDIA_ORIGINAL_MAX_SIDE: '1000',
    PUBLIC_URL: 'http://kith.test',
  },
});
after(() => t.worker.stop());
const a = () => api(t.app);

/** The bytes of a media URL, served by kith from disk. */
async function served(url: string) {
  const res = await t.app.inject({ method: 'GET', url: new URL(url).pathname });
  assert.equal(res.statusCode, 200, res.body);
  return { bytes: res.rawPayload, type: res.headers['content-type'], res };
}

const mediaRows = async () =>
  Number(
    (
      await t.ctx.database.db
        .selectFrom('media')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

describe('uploads', () => {
  for (const [format, mime] of [
    ['jpeg', 'image/jpeg'],
    ['png', 'image/png'],
    ['webp', 'image/webp'],
    ['gif', 'image/gif'],
    ['avif', 'image/avif'],
  ] as const) {
    test(`${format} round-trips: same format and size, a WebP preview and a blurhash`, async () => {
      const { u } = await a().users('u');
      const res = await uploadMedia(t.app, u, await testImage(format, 120, 80), {}, 'x.bin');
      assert.equal(res.statusCode, 201, res.body);
      const m = res.json<MediaBody>();
      assert.deepEqual([m.meta.original.width, m.meta.original.height], [120, 80]);
      const original = await served(m.url);
      assert.equal(original.type, mime);
      assert.equal((await fileTypeFromBuffer(original.bytes))?.mime, mime);
      assert.equal(original.res.headers['cache-control'], 'public, max-age=31536000, immutable');
      const preview = await served(m.preview_url);
      assert.equal((await fileTypeFromBuffer(preview.bytes))?.mime, 'image/webp');
      assert.match(m.blurhash, /^[0-9A-Za-z#$%*+,\-.:;=?@[\]^_{|}~]{20,}$/);
      assert.match(m.url, /^http:\/\/kith\.test\/media\/[0-9a-f]{2}\/[0-9a-f]{32}\./);
    });
  }

  test('a JPEG with GPS EXIF comes back with no metadata at all, turned upright', async () => {
    const { u } = await a().users('u');
    const photo = await sharp(await testImage('jpeg', 200, 100))
      .withExif({
        IFD0: { Make: 'KithCam', Model: 'Serial 12345' },
        IFD3: {
          GPSLatitudeRef: 'N',
          GPSLatitude: '48/1 51/1 29/1',
          GPSLongitudeRef: 'E',
          GPSLongitude: '2/1 17/1 40/1',
        },
      })
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    const before = ExifReader.load(photo, { expanded: true });
    assert.ok(before.gps?.Latitude, 'the test photo carries GPS');
    const m = (
      await uploadMedia(t.app, u, photo, { description: 'a view', focus: '0.5,-0.25' })
    ).json<MediaBody>();
    // Orientation 6 (rotate 90°): a 200×100 photo stands 100×200.
    assert.deepEqual([m.meta.original.width, m.meta.original.height], [100, 200]);
    assert.deepEqual(m.meta.focus, { x: 0.5, y: -0.25 });
    assert.equal(m.description, 'a view');
    for (const url of [m.url, m.preview_url]) {
      const { bytes } = await served(url);
      const tags = ExifReader.load(bytes, { expanded: true });
      assert.equal(tags.exif, undefined, 'no EXIF');
      assert.equal(tags.gps, undefined, 'no GPS');
      assert.equal(tags.xmp, undefined, 'no XMP');
      assert.equal(tags.iptc, undefined, 'no IPTC');
      assert.ok(!bytes.includes('KithCam'), 'no camera make anywhere in the file');
    }
  });

  test('large pictures are scaled down to the configured side', async () => {
    const { u } = await a().users('u');
    const big = await sharp({
      create: { width: 1600, height: 900, channels: 3, background: '#3a6' },
    })
      .png()
      .toBuffer();
    const m = (await uploadMedia(t.app, u, big)).json<MediaBody>();
    assert.deepEqual([m.meta.original.width, m.meta.original.height], [1000, 563]);
    assert.ok(m.meta.small.width <= 640 && m.meta.small.height <= 640);
  });

  describe('refused uploads leave no row and no file', () => {
    const cases: [string, () => Promise<Buffer>, number, string][] = [
      [
        'not an image',
        async () => Buffer.from('%PDF-1.7 this is not a picture at all'),
        422,
        'media_not_an_image',
      ],
      [
        'a truncated JPEG',
        async () => (await testImage('jpeg', 300, 300)).subarray(0, 3000),
        422,
        'media_corrupt',
      ],
      ['a decompression bomb', () => pngBomb(), 422, 'media_too_many_pixels'],
      ['an oversized file', () => testImage('png', 400, 400), 413, 'media_too_large'],
      [
        'a TIFF',
        () =>
          sharp(Buffer.alloc(300), { raw: { width: 10, height: 10, channels: 3 } })
            .tiff()
            .toBuffer(),
        415,
        'media_unsupported_format',
      ],
    ];
    for (const [what, make, status, code] of cases) {
      test(`${what}: ${status} ${code}`, async () => {
        const { u } = await a().users('u');
        const [rows, files] = [await mediaRows(), filesUnder(mediaDir).length];
        const res = await uploadMedia(t.app, u, await make());
        assertProblem(res, status, code);
        assert.equal(await mediaRows(), rows);
        assert.deepEqual(filesUnder(mediaDir).length, files);
      });
    }

    test('no file part: 400 media_missing; JSON: 415', async () => {
      const { u } = await a().users('u');
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/v1/media',
        headers: { ...u.auth, 'content-type': 'multipart/form-data; boundary=x' },
        payload: '--x\r\nContent-Disposition: form-data; name="description"\r\n\r\nhi\r\n--x--\r\n',
      });
      assertProblem(res, 400, 'media_missing');
      assertProblem(
        await a().call('POST', '/media', u, { file: 'x' }),
        415,
        'unsupported_media_type',
      );
    });

    test('a bad focal point: 400 before any processing', async () => {
      const { u } = await a().users('u');
      const res = await uploadMedia(t.app, u, await testImage('png'), { focus: '2,0' });
      assertProblem(res, 400, 'validation_failed');
    });
  });
});
