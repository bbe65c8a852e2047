/**
 * kith comments as Mastodon replies: creating one (`in_reply_to_id`), reading, editing and
 * deleting it as a status, threads (`/context`), reply notifications as `mention`, and an
 * account's replies among its statuses. Who may see a reply is who may see its post and is not
 * in a block with its author.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { api, type Res } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';

const { app, ctx, worker } = await createTestAppWithWorker('mastodon-replies');
after(() => worker.stop());
const m = api(app);

type Json = Record<string, unknown>;
type Status = Json & { id: string; content: string };
const MASTODON = { 'kith-flavour': 'mastodon' };
const UNKNOWN = '0190a000-0000-7000-8000-000000000000';

const call = (
  who: Account | null,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  payload?: object,
  headers: Record<string, string> = {},
) =>
  app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { ...who?.auth, ...MASTODON, ...headers },
    ...(payload ? { payload } : {}),
  });
async function ok<T = Status>(res: Promise<Res>): Promise<T> {
  const r = await res;
  assert.equal(r.statusCode, 200, r.body);
  return r.json<T>();
}
async function fails(res: Promise<Res>, status: number, error?: RegExp) {
  const r = await res;
  assert.equal(r.statusCode, status, r.body);
  if (error) assert.match(r.json<{ error: string }>().error, error);
}
const publish = (who: Account, status: string, visibility = 'public') =>
  ok(call(who, 'POST', '/statuses', { status, visibility }));
const reply = (who: Account, to: string, status: string, extra: Json = {}) =>
  ok(call(who, 'POST', '/statuses', { status, in_reply_to_id: to, ...extra }));
const get = (who: Account | null, id: string) => call(who, 'GET', `/statuses/${id}`);
const context = (who: Account | null, id: string) =>
  ok<{ ancestors: Status[]; descendants: Status[] }>(call(who, 'GET', `/statuses/${id}/context`));
const ids = (list: { id: string }[]) => list.map((s) => s.id);
const repliesCount = async (who: Account, id: string) =>
  (await ok(get(who, id))).replies_count as number;

describe('Mastodon replies (kith comments)', () => {
  it('creates a reply as a comment and serves it as a status', async () => {
    const { ana, ben } = await m.users('ana', 'ben');
    await m.follow(ben, ana);
    const post = await publish(ana, 'a post', 'private');
    // A reply's visibility is its post's, whatever it asks for.
    const first = await reply(ben, post.id, `hi @${ana.username}\nthere`, {
      visibility: 'public',
    });
    assert.equal(first.in_reply_to_id, post.id);
    assert.equal(first.in_reply_to_account_id, ana.id);
    assert.equal(first.visibility, 'private');
    assert.deepEqual(first.kith, { visibility: 'followers', kind: 'comment' });
    assert.match(first.content, /^<p>hi <span class="h-card">.*<\/span><br>there<\/p>$/);
    assert.deepEqual(
      (first.mentions as Json[]).map((u) => u.id),
      [ana.id],
    );
    assert.equal((first.account as Json).id, ben.id);
    assert.deepEqual([first.favourites_count, first.replies_count], [0, 0]);
    assert.deepEqual(await ok(get(ana, first.id)), first);
    assert.equal(await repliesCount(ana, post.id), 1);

    // Replying to a reply comments on the same post: kith threads are flat.
    const second = await reply(ana, first.id, 'answer');
    assert.equal(second.in_reply_to_id, post.id);
    assert.equal(await repliesCount(ana, post.id), 2);

    const thread = await context(ben, post.id);
    assert.deepEqual(thread.ancestors, []);
    assert.deepEqual(ids(thread.descendants), [first.id, second.id]);
    const around = await context(ben, first.id);
    assert.deepEqual(ids(around.ancestors), [post.id]);
    assert.deepEqual(ids(around.descendants), [second.id]);
    assert.deepEqual(ids((await context(ben, second.id)).descendants), []);
  });

  it('creates once per Idempotency-Key', async () => {
    const { ana, ben } = await m.users('ana', 'ben');
    const post = await publish(ana, 'p');
    const headers = { 'idempotency-key': 'reply-1' };
    const send = () =>
      call(ben, 'POST', '/statuses', { status: 'once', in_reply_to_id: post.id }, headers);
    const a = await send();
    const b = await send();
    assert.equal(a.json().id, b.json().id);
    assert.equal(b.headers['idempotent-replayed'], 'true');
    assert.equal(await repliesCount(ana, post.id), 1);
  });

  it('refuses bad replies with a clear 4xx and writes nothing', async () => {
    const { ana, ben } = await m.users('ana', 'ben');
    const post = await publish(ana, 'p');
    const send = (body: Json, who: Account | null = ben) =>
      call(who, 'POST', '/statuses', { in_reply_to_id: post.id, ...body });
    await fails(send({ status: '' }), 422, /Validation failed/);
    await fails(send({ status: 'x'.repeat(2001) }), 422);
    await fails(send({ status: 'x', media_ids: [UNKNOWN] }), 422, /media/);
    await fails(send({ status: 'x', poll: { options: ['a', 'b'] } }), 422);
    await fails(send({ status: 'x', in_reply_to_id: UNKNOWN }), 404, /^Record not found$/);
    await fails(send({ status: 'x', in_reply_to_id: 'nope' }), 404, /^Record not found$/);
    await fails(send({ status: 'x' }, null), 401);
    assert.equal(await repliesCount(ana, post.id), 0);
    // An empty media list (as Elk sends) is fine.
    await ok(send({ status: 'x', media_ids: [] }));
  });

  it('lets only who may see the post reply, and hides replies across blocks', async () => {
    const { ana, ben, cy, dee } = await m.users('ana', 'ben', 'cy', 'dee');
    const friendsOnly = await publish(ana, 'friends only', 'friends');
    await fails(
      call(ben, 'POST', '/statuses', { status: 'x', in_reply_to_id: friendsOnly.id }),
      404,
    );

    const post = await publish(ana, 'public');
    const byBen = await reply(ben, post.id, 'from ben');
    const byCy = await reply(cy, post.id, 'from cy');
    await m.block(ana, ben);
    // Blocked by the post's author: neither the post nor the thread's replies.
    await fails(get(ben, byCy.id), 404);
    await fails(call(ben, 'POST', '/statuses', { status: 'x', in_reply_to_id: byCy.id }), 404);
    // The author sees no reply by the user they blocked; others still do.
    await fails(get(ana, byBen.id), 404);
    assert.deepEqual(ids((await context(ana, post.id)).descendants), [byCy.id]);
    assert.equal(await repliesCount(ana, post.id), 1);
    assert.deepEqual(ids((await context(null, post.id)).descendants), [byBen.id, byCy.id]);
    // A user who blocked a replier sees the rest of the thread without them.
    await m.block(dee, cy);
    assert.deepEqual(ids((await context(dee, post.id)).descendants), [byBen.id]);
    await fails(get(dee, byCy.id), 404);
  });

  it('hides a reply when its post becomes invisible, even from its author', async () => {
    const { ana, ben } = await m.users('ana', 'ben');
    await m.follow(ben, ana);
    const post = await publish(ana, 'followers', 'private');
    const mine = await reply(ben, post.id, 'mine');
    await m.unfollow(ben, ana);
    await fails(get(ben, mine.id), 404);
    await fails(call(ben, 'PUT', `/statuses/${mine.id}`, { status: 'edit' }), 404);
    await fails(get(null, mine.id), 404);
    await ok(get(ana, mine.id));
  });

  it('edits, reads the source and history of, and deletes a reply', async () => {
    const { ana, ben, cy } = await m.users('ana', 'ben', 'cy');
    const post = await publish(ana, 'p');
    const mine = await reply(ben, post.id, 'first');
    assert.equal(mine.edited_at, null);
    const edited = await ok(call(ben, 'PUT', `/statuses/${mine.id}`, { status: 'second' }));
    assert.equal(edited.content, '<p>second</p>');
    assert.equal(typeof edited.edited_at, 'string');
    await fails(call(cy, 'PUT', `/statuses/${mine.id}`, { status: 'no' }), 403);
    await fails(call(ana, 'PUT', `/statuses/${mine.id}`, { status: 'no' }), 403);
    await fails(
      call(ben, 'PUT', `/statuses/${mine.id}`, { status: 'x', media_ids: [UNKNOWN] }),
      422,
    );
    await fails(call(ben, 'PUT', `/statuses/${mine.id}`, { status: ' ' }), 422);

    assert.deepEqual(await ok<Json>(call(ben, 'GET', `/statuses/${mine.id}/source`)), {
      id: mine.id,
      text: 'second',
      spoiler_text: '',
    });
    await fails(call(cy, 'GET', `/statuses/${mine.id}/source`), 404);
    const history = await ok<Json[]>(call(cy, 'GET', `/statuses/${mine.id}/history`));
    assert.deepEqual(
      history.map((h) => h.content),
      ['<p>second</p>'],
    );

    // No likes on comments: favouriting is refused, unfavouriting has nothing to undo.
    await fails(call(cy, 'POST', `/statuses/${mine.id}/favourite`), 422, /cannot be favourited/);
    assert.equal((await ok(call(cy, 'POST', `/statuses/${mine.id}/unfavourite`))).id, mine.id);
    assert.deepEqual(await ok<Json[]>(call(cy, 'GET', `/statuses/${mine.id}/favourited_by`)), []);

    await fails(call(cy, 'DELETE', `/statuses/${mine.id}`), 403);
    // The post's author may remove any reply to it (kith's rule).
    const gone = await ok(call(ana, 'DELETE', `/statuses/${mine.id}`));
    assert.equal(gone.text, 'second');
    await fails(get(ben, mine.id), 404);
    assert.equal(await repliesCount(ana, post.id), 0);
  });

  it('tells the post’s author and the mentioned of a reply as mention, with the reply', async () => {
    const { ana, ben, cy, dee } = await m.users('ana', 'ben', 'cy', 'dee');
    const post = await publish(ana, 'p');
    const byBen = await reply(ben, post.id, `cc @${cy.username}`);
    await m.mute(ana, dee);
    await reply(dee, post.id, 'muted');
    await drain(ctx);
    const notes = async (who: Account, query = '') =>
      ok<Json[]>(call(who, 'GET', `/notifications${query}`));
    for (const [who, kithType] of [
      [ana, 'comment'],
      [cy, 'mention'],
    ] as const) {
      const [note, ...rest] = await notes(who, '?types[]=mention');
      assert.deepEqual(rest, [], 'the muted replier tells nothing');
      assert.equal(note!.type, 'mention');
      assert.equal((note!.status as Status).id, byBen.id);
      assert.equal((note!.status as Status).in_reply_to_id, post.id);
      assert.equal((note!.kith as Json).type, kithType);
      assert.deepEqual(await notes(who, '?exclude_types[]=mention'), []);
    }
    // kith's mute keeps the home feed and notifications quiet, not threads.
    assert.equal((await context(ana, post.id)).descendants.length, 2);
    // A reply that is gone takes its notification with it.
    await ok(call(ben, 'DELETE', `/statuses/${byBen.id}`));
    assert.deepEqual(await notes(ana), []);
  });

  it('reports a reply as one of the account’s statuses (kith: a comment)', async () => {
    const { ana, ben } = await m.users('ana', 'ben');
    const post = await publish(ben, 'p');
    const answer = await reply(ben, post.id, 'a rude reply');
    const report = await ok<Json>(
      call(ana, 'POST', '/reports', { account_id: ben.id, status_ids: [post.id, answer.id] }),
    );
    assert.deepEqual(report.status_ids, [post.id, answer.id]);
    const [mine] = (await m.json<{ items: Json[] }>('GET', '/reports', ana)).items;
    assert.deepEqual([mine!.post_ids, mine!.comment_ids], [[post.id], [answer.id]]);
  });

  it('lists an account’s replies among its statuses unless exclude_replies', async () => {
    const { ana, ben } = await m.users('ana', 'ben');
    const other = await publish(ana, 'theirs');
    const friendsOnly = await publish(ana, 'friends', 'friends');
    const own = await publish(ben, 'own');
    const answer = await reply(ben, other.id, 'reply');
    await m.befriend(ana, ben);
    const hidden = await reply(ben, friendsOnly.id, 'for friends');
    const statuses = (who: Account | null, query = '') =>
      ok<Status[]>(call(who, 'GET', `/accounts/${ben.id}/statuses${query}`));
    assert.deepEqual(ids(await statuses(null)), [answer.id, own.id]);
    assert.deepEqual(ids(await statuses(ana)), [hidden.id, answer.id, own.id]);
    assert.deepEqual(ids(await statuses(null, '?exclude_replies=true')), [own.id]);
    assert.deepEqual(ids(await statuses(null, '?only_media=true')), []);
    // Paging walks posts and replies together.
    assert.deepEqual(ids(await statuses(ana, '?limit=1')), [hidden.id]);
    assert.deepEqual(ids(await statuses(ana, `?limit=2&max_id=${hidden.id}`)), [answer.id, own.id]);
  });
});
