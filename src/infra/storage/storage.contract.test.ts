import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import S3rver from 's3rver';
import { DiskStorage } from './disk-storage.ts';
import { S3Storage } from './s3-storage.ts';
import { newMediaKey, type MediaStorage } from './storage.ts';

/** The behaviour every MediaStorage must have; run against each implementation below. */
function contract(name: string, make: () => MediaStorage, fetchUrl?: boolean) {
  describe(`MediaStorage contract: ${name}`, () => {
    const key = (suffix = '.png') => newMediaKey() + suffix;

    test('put then get returns the same bytes', async () => {
      const s = make();
      const k = key();
      const bytes = Buffer.from([137, 80, 78, 71, 1, 2, 3, 255]);
      await s.put(k, bytes, 'image/png');
      assert.deepEqual(await s.get(k), bytes);
    });

    test('put replaces what was under the key', async () => {
      const s = make();
      const k = key('.webp');
      await s.put(k, Buffer.from('first'), 'image/webp');
      await s.put(k, Buffer.from('second'), 'image/webp');
      assert.equal((await s.get(k))?.toString(), 'second');
    });

    test('get of a missing key is undefined', async () => {
      assert.equal(await make().get(key()), undefined);
    });

    test('delete removes every key and ignores missing ones', async () => {
      const s = make();
      const [a, b, missing] = [key(), key('-small.webp'), key()];
      await s.put(a, Buffer.from('a'), 'image/png');
      await s.put(b, Buffer.from('b'), 'image/webp');
      await s.delete([a, b, missing]);
      assert.equal(await s.get(a), undefined);
      assert.equal(await s.get(b), undefined);
      await s.delete([a]); // again: still fine
      await s.delete([]);
    });

    test('keys are unguessable: 128 random bits, never repeated', () => {
      const keys = new Set(Array.from({ length: 1000 }, () => newMediaKey()));
      assert.equal(keys.size, 1000);
      for (const k of keys) assert.match(k, /^[0-9a-f]{2}\/[0-9a-f]{32}$/);
    });

    test('url ends with the key', () => {
      const k = key();
      assert.ok(make().url(k).endsWith(`/${k}`));
    });

    if (fetchUrl) {
      test('the url serves the bytes with their content type', async () => {
        const s = make();
        const k = key('.gif');
        await s.put(k, Buffer.from('GIF89a'), 'image/gif');
        const res = await fetch(s.url(k));
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('content-type'), 'image/gif');
        assert.equal(await res.text(), 'GIF89a');
      });
    }
  });
}

const diskDir = mkdtempSync(join(tmpdir(), 'kith-storage-'));
after(() => rmSync(diskDir, { recursive: true, force: true }));
contract('disk', () => new DiskStorage(diskDir, 'http://localhost/media'));

test('disk storage refuses keys that are not its own (no path escape)', async () => {
  const s = new DiskStorage(diskDir, 'http://localhost/media');
  assert.equal(s.pathOf('../../etc/passwd'), undefined);
  assert.equal(s.pathOf('ab/../../x.png'), undefined);
  await assert.rejects(s.put('../escape.png', Buffer.from('x'), 'image/png'));
});

// A real S3-protocol server in this process: the SDK speaks HTTP to it, signatures and all.
const s3Dir = mkdtempSync(join(tmpdir(), 'kith-s3rver-'));
let s3rver: S3rver;
let endpoint = '';
const bucket = 'kith-media';
before(async () => {
  s3rver = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: s3Dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const address = await s3rver.run();
  endpoint = `http://127.0.0.1:${address.port}`;
});
after(async () => {
  await s3rver.close();
  rmSync(s3Dir, { recursive: true, force: true });
});
const s3 = () =>
  new S3Storage({
    bucket,
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
contract('s3 (s3rver)', s3, true);
