/**
 * Erasure removes every media file the user owns (pictures of posts, uploads never attached),
 * through the storage port, on disk and on a real S3-protocol server: files before rows, so a
 * crash or a storage outage mid-way leaves rows that lead the next run to the files; files
 * already missing are no error. Other users' files stay.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { api } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker, type TestApp } from '../../../test/support/harness.ts';
import { filesUnder, testImage, uploadMedia } from '../../../test/support/media.ts';
import { startTestS3 } from '../../../test/support/s3.ts';
import type { MediaStorage } from '../../infra/storage/storage.ts';
import { Eraser } from './erasure.service.ts';
import { ExportFiles } from './export-files.ts';
import { ERASURE_DEFAULTS, lifecycleOf } from './lifecycle.ts';

const mediaDir = mkdtempSync(join(tmpdir(), 'kith-erasure-media-'));
after(() => rmSync(mediaDir, { recursive: true, force: true }));
const s3 = await startTestS3();
const onDisk = await createTestAppWithWorker('erasure-media-disk', {
  env: { MEDIA_DIR: mediaDir },
});
after(() => onDisk.worker.stop());
const onS3 = await createTestAppWithWorker('erasure-media-s3', { env: s3.env });
after(() => onS3.worker.stop());

const stores: [string, TestApp, () => Promise<string[]>][] = [
  ['disk', onDisk, async () => filesUnder(mediaDir)],
  ['s3 (s3rver)', onS3, () => s3.keys()],
];

for (const [name, t, storedKeys] of stores) {
  const { ctx, app } = t;
  const { call, ok, users, post } = api(app);
  const { db } = ctx.database;

  const upload = async (who: Account) => {
    const res = await uploadMedia(app, who, await testImage('png', 40, 30));
    assert.equal(res.statusCode, 201, res.body);
    return res.json<{ id: string }>();
  };
  const keysOf = async (who: Account) =>
    (
      await db
        .selectFrom('media')
        .select(['original_key', 'preview_key'])
        .where('owner_id', '=', who.id)
        .execute()
    )
      .flatMap((r) => [r.original_key, r.preview_key])
      .sort();
  const mediaRows = async (who: Account) =>
    (await db.selectFrom('media').select('id').where('owner_id', '=', who.id).execute()).length;

  /** `v` with pictures on a post and uploads never attached; `a` with a picture of their own. */
  async function withPictures() {
    const { v, a } = await users('v', 'a');
    const [m1, m2, m3, m4] = [await upload(v), await upload(v), await upload(v), await upload(v)];
    await post(v, { text: 'two pictures', media_ids: [m1.id, m2.id] });
    await post(v, { text: 'one more', media_ids: [m3.id] });
    void m4; // never attached
    const ma = await upload(a);
    const pa = await post(a, { text: 'mine', media_ids: [ma.id] });
    const vKeys = await keysOf(v);
    assert.equal(vKeys.length, 8);
    const stored = await storedKeys();
    assert.ok(
      vKeys.every((k) => stored.includes(k)),
      'every file of v is stored',
    );
    await ok(call('DELETE', '/me', v, { password: v.password }), 202);
    await db
      .updateTable('account_deletions')
      .set({ erase_after: new Date(Date.now() - 1000) })
      .where('user_id', '=', v.id)
      .execute();
    return { v, a, vKeys, aKeys: await keysOf(a), pa };
  }

  async function assertOnlyOthersLeft(v: Account, vKeys: string[], aKeys: string[]) {
    assert.equal(await mediaRows(v), 0, 'no media row of v');
    const stored = await storedKeys();
    assert.deepEqual(
      vKeys.filter((k) => stored.includes(k)),
      [],
      'no file of v',
    );
    assert.deepEqual(
      aKeys.filter((k) => !stored.includes(k)),
      [],
      "a's files stay",
    );
  }

  describe(`erasure of media files: ${name}`, () => {
    it('removes every file of the user, resuming after a crash, tolerating missing files', async () => {
      const { v, a, vKeys, aKeys, pa } = await withPictures();
      // As if an earlier run had removed this file and crashed before its row went.
      await ctx.mediaStorage.delete([vKeys[0]!]);
      const crash = lifecycleOf(ctx, {
        batchSize: 1,
        afterBatch: (_id, batches) => {
          if (batches === 2) throw new Error('worker died');
        },
      });
      await assert.rejects(crash.eraser.runDue(), /worker died/);
      assert.equal(await mediaRows(v), 2, 'two batches of one media row committed');
      const stored = await storedKeys();
      const left = await keysOf(v);
      assert.deepEqual(
        left.filter((k) => k !== vKeys[0] && !stored.includes(k)),
        [],
        "the rows left still have their files (files go only with their row's batch)",
      );
      assert.equal(await lifecycleOf(ctx, { batchSize: 1 }).eraser.runDue(), 1);
      await assertOnlyOthersLeft(v, vKeys, aKeys);
      const seen = await ok<{ media: { url: string }[] }>(call('GET', `/posts/${pa.id}`, a));
      assert.equal(seen.media.length, 1, "a's post keeps its picture");
    });

    it('a storage outage stops the erasure with the rows kept; the next run removes the files', async () => {
      const { v, vKeys, aKeys } = await withPictures();
      const down: MediaStorage = {
        put: (...args) => ctx.mediaStorage.put(...args),
        get: (key) => ctx.mediaStorage.get(key),
        url: (key) => ctx.mediaStorage.url(key),
        delete: () => Promise.reject(new Error('storage unreachable')),
      };
      const eraser = new Eraser(
        {
          db,
          cache: ctx.cache,
          timelines: ctx.timelines,
          exports: new ExportFiles(ctx.config.dataDir),
          media: down,
          log: ctx.log,
        },
        { ...ERASURE_DEFAULTS, batchSize: 2 },
      );
      await assert.rejects(eraser.runDue(), /storage unreachable/);
      assert.equal(await mediaRows(v), 4, 'no row went without its files');
      assert.equal((await lifecycleOf(ctx).deletion.find(v.id))?.batches, 0, 'nothing committed');
      assert.equal(await lifecycleOf(ctx).eraser.runDue(), 1);
      await assertOnlyOthersLeft(v, vKeys, aKeys);
    });
  });
}
