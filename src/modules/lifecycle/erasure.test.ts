/**
 * Erasure after the grace period, with the worker running in-process (notifications, fan-out
 * into timelines, streams): nothing of the user is left in any table or Redis key, every other
 * user's counters stay exact, a crash mid-way resumes, and people acting on the user meanwhile
 * leave the counters exact too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { api } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { redisUrl, testPrefix, testRedis } from '../../../test/support/services.ts';
import { counterDrift, keysMentioning, rowsMentioning } from './erasure-audit.ts';
import { homeTimeline } from '../feed/feed.service.ts';
import { lifecycleOf } from './lifecycle.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { filesUnder, testImage, uploadMedia } from '../../../test/support/media.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'kith-erasure-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
const prefix = `${testPrefix}:erasure:`;
const { app, ctx, worker } = await createTestAppWithWorker('erasure', {
  env: { DATA_DIR: dataDir },
});
after(() => worker.stop());
const { call, ok, users, follow, befriend, block, mute, post } = api(app);

/** What the victim made, to look for afterwards. */
interface Traces {
  ids: string[];
}

/** A victim `v` entangled with others in every way the API offers; what to look for later. */
async function entangle(v: Account, a: Account, b: Account, c: Account): Promise<Traces> {
  const media = await ok<{ id: string }>(uploadMedia(app, v, await testImage('png', 40, 30)), 201);
  const p1 = await post(v, { text: 'first', media_ids: [media.id] });
  const p2 = await post(v, { text: 'second' });
  await ok(uploadMedia(app, v, await testImage('jpeg', 40, 30)), 201); // never attached
  await ok(call('PATCH', `/posts/${p1.id}`, v, { text: 'first, edited' }));
  const pa = await post(a, { text: `a post, hi @${v.username}` });
  const pb = await post(b, { text: 'b post' });
  for (const who of [a, b]) await ok(call('POST', `/posts/${p1.id}/like`, who));
  await ok(call('POST', `/posts/${p2.id}/comments`, a, { text: 'nice' }), 201);
  for (const target of [pa, pb]) await ok(call('POST', `/posts/${target.id}/like`, v));
  await ok(call('POST', `/posts/${pa.id}/like`, b)); // a grouped like: b and v
  const cv = await ok<{ id: string }>(
    call('POST', `/posts/${pa.id}/comments`, v, { text: 'from v' }),
    201,
  );
  await ok(call('POST', `/posts/${pa.id}/comments`, v, { text: 'again' }), 201);
  await follow(v, a);
  await follow(a, v);
  await follow(b, v);
  await follow(v, c);
  await befriend(v, b);
  await ok(call('POST', `/users/${c.username}/friend-request`, v), 201);
  await mute(v, c);
  await block(c, v);
  const conv = await ok<{ id: string }>(
    call('POST', '/conversations', v, { username: a.username }),
    201,
  );
  await ok(call('POST', `/conversations/${conv.id}/messages`, v, { text: 'hi a' }), 201);
  await ok(call('POST', `/conversations/${conv.id}/messages`, a, { text: 'hi v' }), 201);
  await ok(call('POST', '/me/export', v), 202);
  await drain(ctx);
  // Reads fill caches and timelines with the victim in them.
  for (const who of [v, a, b]) await ok(call('GET', '/feed', who));
  await ok(call('GET', `/users/${v.username}`, a));
  await ok(call('GET', `/posts/${p1.id}`, a));
  return { ids: [v.id, v.email, p1.id, p2.id, cv.id, conv.id, media.id] };
}

/** Deletes the account through the API and lets its grace period end. */
async function scheduleErasure(v: Account): Promise<void> {
  await ok(call('DELETE', '/me', v, { password: v.password }), 202);
  await ctx.database.db
    .updateTable('account_deletions')
    .set({ erase_after: new Date(Date.now() - 1000) })
    .where('user_id', '=', v.id)
    .execute();
}

async function assertNothingLeft(v: Account, traces: Traces): Promise<void> {
  const { db } = ctx.database;
  assert.deepEqual(await rowsMentioning(db, traces.ids), []);
  // The name only in the tombstone that keeps it reserved, and in what others wrote about the
  // user (a mention in someone's post is theirs, not the user's).
  const theirs = ['reserved_usernames.username', 'posts.text'];
  assert.deepEqual(await rowsMentioning(db, [v.username], theirs), []);
  const reserved = await db.selectFrom('reserved_usernames').selectAll().execute();
  assert.ok(reserved.some((r) => r.username === v.username));
  if (redisUrl()) {
    assert.deepEqual(await keysMentioning(await testRedis(), prefix, traces.ids), []);
  }
  assert.deepEqual(readdirSync(join(dataDir, 'exports')), [], 'export archives removed');
  assert.deepEqual(filesUnder(join(dataDir, 'media')), [], 'media files removed');
  assert.deepEqual(await counterDrift(db), []);
}

describe('erasure', () => {
  it('leaves no row, key or file of the user, and every other counter exact', async () => {
    const { v, a, b, c } = await users('v', 'a', 'b', 'c');
    const traces = await entangle(v, a, b, c);
    assert.ok(
      (await rowsMentioning(ctx.database.db, [v.id])).length > 20,
      'the user is everywhere',
    );
    await scheduleErasure(v);
    assert.equal(await lifecycleOf(ctx, { batchSize: 2 }).eraser.runDue(), 1);
    await assertNothingLeft(v, traces);
    // What others see agrees: counts, the grouped like, the conversation gone.
    assert.deepEqual(await api(app).counts(a, b, c), ['0/0/0', '0/0/0', '0/0/0']);
    const notes = await ok<{ items: { type: string; actor_count: number }[] }>(
      call('GET', '/notifications', a),
    );
    assert.ok(notes.items.every((n) => n.actor_count >= 1));
    const convs = await ok<{ items: unknown[] }>(call('GET', '/conversations', a));
    assert.equal(convs.items.length, 0);
    const home = await ctx.timelines.range(homeTimeline(a.id), { limit: 100 });
    assert.ok(!home?.some((e) => traces.ids.includes(e.id)), 'posts gone from timelines');
  });

  it('resumes after a crash mid-way, where the last batch committed', async () => {
    const { v, a, b, c } = await users('v', 'a', 'b', 'c');
    const traces = await entangle(v, a, b, c);
    await scheduleErasure(v);
    const crash = lifecycleOf(ctx, {
      batchSize: 1,
      afterBatch: (_id, batches) => {
        if (batches === 5) throw new Error('worker died');
      },
    });
    await assert.rejects(crash.eraser.runDue(), /worker died/);
    const halfway = await lifecycleOf(ctx).deletion.find(v.id);
    assert.equal(halfway?.batches, 5);
    assert.notEqual(halfway?.phase, 'waiting');
    assert.deepEqual(await counterDrift(ctx.database.db), [], 'exact after every batch');
    const seen: number[] = [];
    const resumed = lifecycleOf(ctx, { batchSize: 1, afterBatch: (_id, n) => void seen.push(n) });
    assert.equal(await resumed.eraser.runDue(), 1);
    assert.equal(seen[0], 6, 'went on from the saved progress');
    await assertNothingLeft(v, traces);
  });

  it('a budget-limited run stops and the next one finishes', async () => {
    const { v, a, b, c } = await users('v', 'a', 'b', 'c');
    const traces = await entangle(v, a, b, c);
    await scheduleErasure(v);
    assert.equal(await lifecycleOf(ctx, { batchSize: 1, maxBatchesPerRun: 3 }).eraser.runDue(), 0);
    assert.equal((await lifecycleOf(ctx).deletion.find(v.id))?.batches, 3);
    assert.equal(await lifecycleOf(ctx, { batchSize: 1 }).eraser.runDue(), 1);
    await assertNothingLeft(v, traces);
  });

  it('keeps counters exact while others like, comment and follow during the erasure', async () => {
    const { v, a, b, c } = await users('v', 'a', 'b', 'c');
    const crowd = await api(app).accounts(6);
    const traces = await entangle(v, a, b, c);
    const posts = [];
    for (let i = 0; i < 4; i++) posts.push(await post(v, { text: `more ${i}` }));
    for (const who of crowd.slice(0, 3)) await follow(who, v);
    const targets = [...posts.map((p) => p.id), ...traces.ids.slice(2, 4)];
    await scheduleErasure(v);
    const erasing = lifecycleOf(ctx, { batchSize: 1 }).eraser.runDue();
    const statuses = await Promise.all(
      crowd.flatMap((who, i) => [
        ...targets.map((id) => call('POST', `/posts/${id}/like`, who)),
        call('POST', `/posts/${targets[i % targets.length]}/comments`, who, { text: 'hey' }),
        call('POST', `/users/${v.username}/follow`, who),
        call('DELETE', `/users/${v.username}/follow`, who),
        follow(who, crowd[(i + 1) % crowd.length]!).then(() => ({ statusCode: 200 })),
      ]),
    );
    assert.equal(await erasing, 1);
    for (const res of statuses) assert.ok(res.statusCode < 500, `status ${res.statusCode}`);
    await drain(ctx);
    await assertNothingLeft(v, { ids: [...traces.ids, ...posts.map((p) => p.id)] });
    await waitFor(async () => (await counterDrift(ctx.database.db)).length === 0, 'exact');
  });
});
