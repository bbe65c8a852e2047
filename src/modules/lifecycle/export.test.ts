/**
 * Data export with the worker in-process: the archive holds exactly what the API shows its
 * owner, the mailed link works until it expires, housekeeping removes expired archives, and
 * only one export runs at a time, at most once per interval.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { api, type Page } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { assertProblem } from '../../../test/support/problems.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { filesUnder, testImage, uploadMedia } from '../../../test/support/media.ts';
import { lifecycleOf } from './lifecycle.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'kith-export-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
const { app, ctx, worker } = await createTestAppWithWorker('export', {
  env: { DATA_DIR: dataDir, EXPORT_MIN_INTERVAL_HOURS: '1' },
});
after(() => worker.stop());
const { call, ok, users, follow, befriend, block, mute, post } = api(app);

type Archive = {
  format: string;
  profile: Record<string, unknown>;
  posts: { id: string; text: string; history: { id: string; text: string }[] }[];
  comments: { id: string; post_id: string }[];
  likes: { post_id: string }[];
  following: { username: string }[];
  followers: { username: string }[];
  friends: { username: string }[];
  friend_requests: { id: string; direction: string; status: string }[];
  blocks: { username: string }[];
  mutes: { username: string }[];
  conversations: { id: string; with: string; messages: { id: string; text: string }[] }[];
  notifications: { id: string }[];
  media: { id: string; post_id: string | null; file: string; description: string }[];
};

/** The download token from the newest export mail to `to`. */
function mailedToken(to: Account): string | undefined {
  const dir = ctx.config.mailDir;
  for (const name of readdirSync(dir).sort().reverse()) {
    // Quoted-printable soft line breaks would split the link.
    const mail = readFileSync(join(dir, name), 'utf8').replace(/=\r?\n/g, '');
    if (!mail.includes(to.email) || !mail.includes('data export')) continue;
    return /\/api\/v1\/exports\/([A-Za-z0-9_-]{43})/.exec(mail)?.[1];
  }
  return undefined;
}

/** The archive unpacked by the system's `tar` (an independent reader of the format). */
function unpack(tarGz: Buffer): { archive: Archive; files: Map<string, Buffer> } {
  const dir = mkdtempSync(join(tmpdir(), 'kith-export-unpacked-'));
  try {
    writeFileSync(join(dir, 'archive.tar.gz'), tarGz);
    const out = join(dir, 'out');
    execFileSync('mkdir', [out]);
    execFileSync('tar', ['-xzf', join(dir, 'archive.tar.gz'), '-C', out]);
    const files = new Map(filesUnder(out).map((f) => [f, readFileSync(join(out, f))]));
    const doc = files.get('kith-export.json');
    assert.ok(doc, 'the archive holds the document');
    return { archive: JSON.parse(doc.toString('utf8')) as Archive, files };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function exportOf(
  who: Account,
): Promise<{ archive: Archive; files: Map<string, Buffer>; token: string }> {
  await ok(call('POST', '/me/export', who), 202);
  await drain(ctx);
  const state = await ok<{ status: string }>(call('GET', '/me/export', who));
  assert.equal(state.status, 'ready');
  const token = await waitFor(() => mailedToken(who), 'the export mail');
  const res = await call('GET', `/exports/${token}`, null);
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['content-type'], 'application/gzip');
  assert.match(String(res.headers['content-disposition']), /\.tar\.gz"$/);
  return { ...unpack(res.rawPayload), token };
}

const all = async <T>(path: string, who: Account) =>
  (await ok<Page<T>>(call('GET', `${path}${path.includes('?') ? '&' : '?'}limit=100`, who))).items;
const names = (list: { username: string }[]) => list.map((u) => u.username).sort();

describe('data export', () => {
  it('lists exactly what the API shows its owner', async () => {
    const { u, a, b, c, d } = await users('u', 'a', 'b', 'c', 'd');
    const upload = async (who: Account, description: string) =>
      ok<{ id: string; url: string }>(
        uploadMedia(app, who, await testImage('png', 40, 30), { description }),
        201,
      );
    const pic = await upload(u, 'on a post');
    const loose = await upload(u, 'not attached yet');
    const gone = await upload(u, 'deleted');
    await ok(call('DELETE', `/media/${gone.id}`, u), 204);
    await upload(a, 'not mine');
    const p1 = await post(u, { text: 'one', media_ids: [pic.id] });
    await post(u, { text: 'two', visibility: 'friends' });
    await ok(call('PATCH', `/posts/${p1.id}`, u, { text: 'one, edited' }));
    const pa = await post(a, { text: 'a says hi' });
    await ok(call('POST', `/posts/${pa.id}/like`, u));
    await ok(call('POST', `/posts/${pa.id}/comments`, u, { text: 'hello a' }), 201);
    await ok(call('POST', `/posts/${p1.id}/like`, a));
    await follow(u, a);
    await follow(b, u);
    await befriend(u, c);
    await ok(call('POST', `/users/${d.username}/friend-request`, u), 201);
    await ok(call('POST', `/users/${u.username}/friend-request`, b), 201);
    await block(u, d);
    await mute(u, a);
    const conv = await ok<{ id: string }>(
      call('POST', '/conversations', u, { username: a.username }),
      201,
    );
    await ok(call('POST', `/conversations/${conv.id}/messages`, a, { text: 'hey u' }), 201);
    await drain(ctx);

    const { archive, files } = await exportOf(u);
    assert.equal(archive.format, 'kith-export/2');
    // Media: the pictures of the posts the API shows, and the uploads it still serves; each
    // file in the archive is the very file the media URL serves.
    assert.deepEqual(
      archive.media.map((m) => [m.id, m.post_id, m.description]),
      [
        [pic.id, p1.id, 'on a post'],
        [loose.id, null, 'not attached yet'],
      ],
    );
    await ok(call('GET', `/media/${loose.id}`, u));
    assertProblem(await call('GET', `/media/${gone.id}`, u), 404, 'media_not_found');
    const shown = await ok<{ media: { id: string; url: string }[] }>(
      call('GET', `/posts/${p1.id}`, u),
    );
    assert.deepEqual(
      shown.media.map((m) => m.id),
      [pic.id],
    );
    assert.deepEqual([...files.keys()].sort(), [
      'kith-export.json',
      ...archive.media.map((m) => m.file).sort(),
    ]);
    for (const [m, url] of [
      [archive.media[0]!, shown.media[0]!.url],
      [archive.media[1]!, loose.url],
    ] as const) {
      const served = await app.inject({ method: 'GET', url: new URL(url).pathname });
      assert.equal(served.statusCode, 200);
      assert.deepEqual(files.get(m.file), served.rawPayload, `${m.file} is the served file`);
    }
    const me = await ok<Record<string, unknown>>(call('GET', '/me', u));
    for (const key of ['id', 'username', 'email', 'display_name', 'bio', 'dob', 'dm_policy']) {
      assert.deepEqual(archive.profile[key], me[key], key);
    }
    for (const key of ['follower_count', 'following_count', 'friend_count', 'post_count']) {
      assert.deepEqual(archive.profile[key], me[key], key);
    }
    const posts = await all<{ id: string; text: string }>(`/users/${u.username}/posts`, u);
    assert.deepEqual(
      archive.posts.map((p) => [p.id, p.text]),
      posts.map((p) => [p.id, p.text]),
    );
    const history = await all<{ id: string; text: string }>(`/posts/${p1.id}/history`, u);
    const archived = archive.posts.find((p) => p.id === p1.id)!.history;
    assert.deepEqual(archived.map((v) => v.id).sort(), history.map((v) => v.id).sort());
    const comments = await all<{ id: string; author: { username: string } }>(
      `/posts/${pa.id}/comments`,
      u,
    );
    assert.deepEqual(
      archive.comments.map((x) => x.id),
      comments.filter((x) => x.author.username === u.username).map((x) => x.id),
    );
    const liked = await ok<{ liked: boolean }>(call('GET', `/posts/${pa.id}`, u));
    assert.equal(liked.liked, true);
    assert.deepEqual(
      archive.likes.map((l) => l.post_id),
      [pa.id],
    );
    for (const kind of ['followers', 'following', 'friends'] as const) {
      const listed = await all<{ username: string }>(`/users/${u.username}/${kind}`, u);
      assert.deepEqual(names(archive[kind]), names(listed), kind);
    }
    for (const direction of ['incoming', 'outgoing']) {
      const listed = await all<{ id: string }>(`/friend-requests?direction=${direction}`, u);
      const pending = archive.friend_requests.filter(
        (r) => r.direction === direction && r.status === 'pending',
      );
      assert.deepEqual(pending.map((r) => r.id).sort(), listed.map((r) => r.id).sort());
    }
    const rel = await ok<{ items: { username: string; blocking: boolean; muting: boolean }[] }>(
      call('GET', `/relationships?users=${[a, b, c, d].map((x) => x.username).join(',')}`, u),
    );
    assert.deepEqual(names(archive.blocks), names(rel.items.filter((r) => r.blocking)));
    assert.deepEqual(names(archive.mutes), names(rel.items.filter((r) => r.muting)));
    const convs = await all<{ id: string }>('/conversations', u);
    assert.deepEqual(
      archive.conversations.map((x) => x.id),
      convs.map((x) => x.id),
    );
    const messages = await all<{ id: string }>(`/conversations/${conv.id}/messages`, u);
    assert.deepEqual(
      archive.conversations[0]!.messages.map((m) => m.id).sort(),
      messages.map((m) => m.id).sort(),
    );
    const notes = await all<{ id: string }>('/notifications', u);
    assert.ok(notes.length > 0);
    assert.deepEqual(
      archive.notifications.map((n) => n.id),
      notes.map((n) => n.id),
    );
  });

  it('one at a time, once per interval; the link dies when it expires', async () => {
    const { u, v } = await users('u', 'v');
    assertProblem(await call('GET', '/me/export', u), 404, 'no_export');
    // Two at once: one goes through, the other is told one is in progress.
    const both = await Promise.all([call('POST', '/me/export', u), call('POST', '/me/export', u)]);
    assert.deepEqual(both.map((r) => r.statusCode).sort(), [202, 409]);
    assertProblem(
      both.find((r) => r.statusCode === 409)!,
      409,
      'export_in_progress',
    );
    await drain(ctx);
    const limited = await call('POST', '/me/export', u);
    assertProblem(limited, 429, 'export_rate_limited');
    assert.ok(Number(limited.headers['retry-after']) > 3000);
    const token = await waitFor(() => mailedToken(u), 'the export mail');
    await ok(call('GET', '/me/export', u));
    assertProblem(await call('GET', '/me/export', v), 404, 'no_export');
    // Expired: the link answers 404 and housekeeping removes the archive.
    await ctx.database.db
      .updateTable('data_exports')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('user_id', '=', u.id)
      .execute();
    assertProblem(await call('GET', `/exports/${token}`, null), 404, 'export_not_found');
    const state = await ok<{ status: string }>(call('GET', '/me/export', u));
    assert.equal(state.status, 'expired');
    const before = readdirSync(join(dataDir, 'exports')).length;
    assert.equal(await lifecycleOf(ctx).exports.purgeExpired(), 1);
    assert.equal(readdirSync(join(dataDir, 'exports')).length, before - 1);
    assertProblem(await call('GET', `/exports/${'x'.repeat(43)}`, null), 404, 'export_not_found');
  });
});
