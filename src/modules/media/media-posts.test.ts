import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { api, type Page } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { drain } from '../../../test/support/drain.ts';
import { filesUnder, testImage, uploadMedia } from '../../../test/support/media.ts';
import { assertInvalid, assertProblem } from '../../../test/support/problems.ts';
import { mediaModule } from './index.ts';

type Media = { id: string; url: string; preview_url: string; description: string | null };
type Post = { id: string; media: Media[] };

const mediaDir = mkdtempSync(join(tmpdir(), 'kith-media-posts-'));
after(() => rmSync(mediaDir, { recursive: true, force: true }));
const t = await createTestAppWithWorker('media-posts', {
  env: { MEDIA_DIR: mediaDir, PUBLIC_URL: 'http://kith.test', MEDIA_MAX_PER_POST: '3' },
});
after(() => t.worker.stop());
const a = api(t.app);
const { db } = t.ctx.database;

async function upload(who: Account, fields: Record<string, string> = {}): Promise<Media> {
  const res = await uploadMedia(t.app, who, await testImage('png', 40, 30), fields);
  assert.equal(res.statusCode, 201, res.body);
  return res.json<Media>();
}
const keysOf = (m: Media) =>
  [m.url, m.preview_url].map((u) => new URL(u).pathname.slice('/media/'.length));
const onDisk = (m: Media) => keysOf(m).filter((k) => filesUnder(mediaDir).includes(k)).length;

describe('pictures on posts', () => {
  test('a post with media is presented with them everywhere, in order', async () => {
    const { author, reader } = await a.users('author', 'reader');
    await a.follow(reader, author);
    const [m1, m2] = [await upload(author, { description: 'first' }), await upload(author)];
    const post = await a.post<Post>(author, { text: 'two pictures', media_ids: [m2.id, m1.id] });
    assert.deepEqual(
      post.media.map((m) => m.id),
      [m2.id, m1.id],
    );
    assert.equal(post.media[1]!.description, 'first');
    const one = await a.json<Post>('GET', `/posts/${post.id}`, reader);
    const profile = await a.json<Page<Post>>('GET', `/users/${author.username}/posts`);
    await drain(t.ctx);
    const feed = await a.json<Page<Post>>('GET', '/feed', reader);
    for (const seen of [one, profile.items[0]!, feed.items.find((p) => p.id === post.id)!]) {
      assert.deepEqual(
        seen.media.map((m) => [m.id, m.url]),
        post.media.map((m) => [m.id, m.url]),
      );
    }
    // A description changed afterwards shows in the (cached) feed too.
    await a.json('PATCH', `/media/${m1.id}`, author, { description: 'changed' });
    const again = await a.json<Page<Post>>('GET', '/feed', reader);
    assert.equal(again.items.find((p) => p.id === post.id)!.media[1]!.description, 'changed');
  });

  test('media of a post a viewer may not see are not listed to them', async () => {
    const { author, stranger } = await a.users('author', 'stranger');
    const m = await upload(author);
    const post = await a.post<Post>(author, {
      text: 'friends only',
      visibility: 'friends',
      media_ids: [m.id],
    });
    assertProblem(await a.call('GET', `/posts/${post.id}`, stranger), 404, 'post_not_found');
    const profile = await a.json<Page<Post>>('GET', `/users/${author.username}/posts`, stranger);
    assert.equal(profile.items.length, 0);
    assertProblem(await a.call('GET', `/media/${m.id}`, stranger), 404, 'media_not_found');
  });

  test('media_ids must be yours, unattached elsewhere, and at most MEDIA_MAX_PER_POST', async () => {
    const { u, v } = await a.users('u', 'v');
    const theirs = await upload(v);
    assertInvalid(
      await a.call('POST', '/posts', u, { text: 'x', media_ids: [theirs.id] }),
      '/media_ids/0',
    );
    const mine = await upload(u);
    await a.post(u, { text: 'first', media_ids: [mine.id] });
    assertInvalid(
      await a.call('POST', '/posts', u, { text: 'again', media_ids: [mine.id] }),
      '/media_ids/0',
    );
    const four = [await upload(u), await upload(u), await upload(u), await upload(u)];
    const res = await a.call('POST', '/posts', u, {
      text: 'four',
      media_ids: four.map((m) => m.id),
    });
    assertProblem(res, 422, 'too_many_media');
    // Nothing was written by the refused posts.
    const free = await db
      .selectFrom('media')
      .select('id')
      .where('owner_id', '=', u.id)
      .where('post_id', 'is', null)
      .execute();
    assert.equal(free.length, 4);
  });

  test('two posts racing for the same picture: exactly one gets it', async () => {
    const { u } = await a.users('u');
    const m = await upload(u);
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        a.call('POST', '/posts', u, { text: `race ${i}`, media_ids: [m.id] }),
      ),
    );
    assert.equal(
      results.filter((r) => r.statusCode === 201).length,
      1,
      results.map((r) => r.body).join('\n'),
    );
    assert.ok(results.every((r) => r.statusCode === 201 || r.statusCode === 400));
  });

  test('editing a post replaces its pictures', async () => {
    const { u } = await a.users('u');
    const [m1, m2] = [await upload(u), await upload(u)];
    const post = await a.post<Post>(u, { text: 'edit me', media_ids: [m1.id] });
    const edited = await a.json<Post>('PATCH', `/posts/${post.id}`, u, { media_ids: [m2.id] });
    assert.deepEqual(
      edited.media.map((m) => m.id),
      [m2.id],
    );
    const read = await a.json<Post>('GET', `/posts/${post.id}`, u);
    assert.deepEqual(
      read.media.map((m) => m.id),
      [m2.id],
    );
  });
});

describe('removal', () => {
  test('deleting a post removes its pictures and their files after commit', async () => {
    const { u } = await a.users('u');
    const m = await upload(u);
    const post = await a.post<Post>(u, { text: 'bye', media_ids: [m.id] });
    assert.equal(onDisk(m), 2);
    await a.call('DELETE', `/posts/${post.id}`, u);
    await drain(t.ctx);
    assert.equal(onDisk(m), 0);
    assert.equal(
      await db.selectFrom('media').select('id').where('id', '=', m.id).executeTakeFirst(),
      undefined,
    );
  });

  test('deleting an upload removes its files; one on a post is refused', async () => {
    const { u, v } = await a.users('u', 'v');
    const [free, used] = [await upload(u), await upload(u)];
    await a.post(u, { text: 'keeps it', media_ids: [used.id] });
    assertProblem(await a.call('DELETE', `/media/${free.id}`, v), 404, 'media_not_found');
    assertProblem(await a.call('DELETE', `/media/${used.id}`, u), 409, 'media_attached');
    assert.equal((await a.call('DELETE', `/media/${free.id}`, u)).statusCode, 204);
    assertProblem(await a.call('GET', `/media/${free.id}`, u), 404, 'media_not_found');
    await drain(t.ctx);
    assert.equal(onDisk(free), 0);
    assert.equal(onDisk(used), 2);
  });

  test('housekeeping removes uploads left unattached past the TTL, and only those', async () => {
    const { u } = await a.users('u');
    const [old, fresh, attached] = [await upload(u), await upload(u), await upload(u)];
    await a.post(u, { text: 'attached', media_ids: [attached.id] });
    const longAgo = new Date(Date.now() - (t.ctx.config.mediaUnattachedTtlMinutes + 1) * 60_000);
    await db
      .updateTable('media')
      .set({ created_at: longAgo })
      .where('id', 'in', [old.id, attached.id])
      .execute();
    await mediaModule.housekeeping!(t.ctx);
    assert.deepEqual([onDisk(old), onDisk(fresh), onDisk(attached)], [0, 2, 2]);
    assertProblem(await a.call('GET', `/media/${old.id}`, u), 404, 'media_not_found');
  });
});

describe('files from disk', () => {
  test('content type, immutable caching and byte ranges', async () => {
    const { u } = await a.users('u');
    const m = await upload(u);
    const path = new URL(m.url).pathname;
    const whole = await t.app.inject({ method: 'GET', url: path });
    assert.equal(whole.headers['content-type'], 'image/png');
    const size = whole.rawPayload.length;
    const part = await t.app.inject({ method: 'GET', url: path, headers: { range: 'bytes=2-9' } });
    assert.equal(part.statusCode, 206);
    assert.equal(part.headers['content-range'], `bytes 2-9/${size}`);
    assert.deepEqual(part.rawPayload, whole.rawPayload.subarray(2, 10));
    const tail = await t.app.inject({ method: 'GET', url: path, headers: { range: 'bytes=-4' } });
    assert.deepEqual(tail.rawPayload, whole.rawPayload.subarray(size - 4));
    const beyond = await t.app.inject({
      method: 'GET',
      url: path,
      headers: { range: `bytes=${size}-` },
    });
    assert.equal(beyond.statusCode, 416);
    for (const bad of [
      '/media/..%2F..%2Fetc/passwd',
      '/media/ab/nothing.png',
      '/media/00/00000000000000000000000000000000.png',
    ]) {
      assert.equal((await t.app.inject({ method: 'GET', url: bad })).statusCode, 404, bad);
    }
  });
});
