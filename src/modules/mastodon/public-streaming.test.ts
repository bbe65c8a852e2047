/**
 * Mastodon's `public*` and `hashtag*` streams: `update`, `status.update` and `delete` for public
 * posts, on the streams a socket subscribed to, each as its viewer may see it (never posts for
 * followers or friends, nor by users in a block with the viewer either way, nor by muted users);
 * `public:remote` stays silent.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { api } from '../../../test/support/api.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { type Inbox, openStream, terminateStreams } from '../../../test/support/streams.ts';
import { waitFor } from '../../../test/support/wait.ts';
import { streamsFor } from './public-streams.ts';

const { app, ctx, worker } = await createTestAppWithWorker('mastodon-public-streams');
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
const wsBase = base.replace(/^http/, 'ws');
after(async () => {
  terminateStreams();
  await worker.stop();
});

const { users, block, mute, post, json } = api(app);
type Frame = { stream?: string[]; event?: string; payload?: string; error?: string };
type Json = Record<string, unknown>;

const subscriptions = async (stream: string) =>
  (await ctx.metrics.mastodonStreamSubscriptions.get()).values.find(
    (v) => v.labels.stream === stream,
  )?.value ?? 0;

/** A socket of `who` subscribed to `query` (`stream=public`, `stream=hashtag&tag=x`). */
async function connect(who: Account, query: string): Promise<Inbox<Frame>> {
  const stream = new URLSearchParams(query).get('stream')!;
  const before = await subscriptions(stream);
  const inbox = await openStream<Frame>(`${wsBase}/api/v1/streaming?${query}`, who.auth);
  await waitFor(async () => (await subscriptions(stream)) === before + 1, `${query} subscribed`);
  return inbox;
}

/** Subscribes an open socket to one more stream, and waits until the node has it. */
async function subscribe(inbox: Inbox<Frame>, message: Json) {
  const stream = String(message.stream);
  const before = await subscriptions(stream);
  inbox.socket.send(JSON.stringify({ type: 'subscribe', ...message }));
  await waitFor(async () => (await subscriptions(stream)) === before + 1, `${stream} subscribed`);
}

const updates = (frames: Frame[], event = 'update') => frames.filter((f) => f.event === event);
const statusOf = (f: Frame) => JSON.parse(f.payload!) as Json & { id: string; content: string };
let n = 0;
const freshTag = () => `s${Date.now().toString(36)}x${n++}`;

describe('Mastodon public and hashtag streams', () => {
  it('sends public posts as update, status.update and delete on public and hashtag streams', async () => {
    const { ana, ben } = await users('ana', 'ben');
    const tag = freshTag();
    const socket = await connect(ben, 'stream=public');
    await subscribe(socket, { stream: 'hashtag', tag: tag.toUpperCase() });
    await subscribe(socket, { stream: 'public:remote' });

    await post(ana, { text: `not public #${tag}`, visibility: 'followers' });
    await post(ana, { text: `for friends #${tag}`, visibility: 'friends' });
    const untagged = await post(ana, { text: 'public, untagged' });
    const tagged = await post(ana, { text: `public #${tag}` });
    // Posts may be handled in any order (consumers run in parallel): wait for all three frames.
    const pairs = (f: Frame[]) =>
      updates(f)
        .filter((x) => [untagged.id, tagged.id].includes(statusOf(x).id))
        .map((x) => [statusOf(x).id, x.stream] as const);
    const expected = [
      [untagged.id, ['public']],
      [tagged.id, ['public']],
      [tagged.id, ['hashtag', tag.toUpperCase()]],
    ];
    const frames = await socket.until((f) => pairs(f).length >= 3 && f, 'three frames');
    const sorted = (list: readonly (readonly [string, unknown])[]) =>
      list.map((p) => JSON.stringify(p)).sort();
    assert.deepEqual(
      sorted(pairs(frames)),
      sorted(expected as [string, string[]][]),
      'only public posts, a tag on its stream, nothing on public:remote',
    );
    const mine = updates(frames).filter((f) => [untagged.id, tagged.id].includes(statusOf(f).id));
    assert.equal(typeof mine[0]!.payload, 'string');
    assert.equal(statusOf(mine[0]!).visibility, 'public');

    await json('PUT', `/api/v1/statuses/${tagged.id}`, ana, { status: `edited #${tag}` });
    const edit = await socket.until((f) => updates(f, 'status.update')[0], 'status.update');
    assert.equal(statusOf(edit).id, tagged.id);
    assert.match(statusOf(edit).content, /edited/);

    await json('DELETE', `/api/v1/statuses/${tagged.id}`, ana);
    const gone = await socket.until(
      (f) => updates(f, 'delete').length >= 2 && updates(f, 'delete'),
      'delete on both streams',
    );
    assert.deepEqual(gone.map((f) => [f.payload, f.stream![0]]).sort(), [
      [tagged.id, 'hashtag'],
      [tagged.id, 'public'],
    ]);
  });

  it('leaves out posts by users in a block with the viewer, either way, and by muted users', async () => {
    const { viewer, blocked, blocker, muted, plain } = await users(
      'viewer',
      'blocked',
      'blocker',
      'muted',
      'plain',
    );
    await block(viewer, blocked);
    await block(blocker, viewer);
    await mute(viewer, muted);
    const socket = await connect(viewer, 'stream=public:local');
    const watcher = await connect(plain, 'stream=public');
    const hidden = [];
    for (const who of [blocked, blocker, muted])
      hidden.push((await post(who, { text: 'hidden' })).id);
    const last = await post(plain, { text: 'seen' });
    // Posts may be handled in any order (consumers run in parallel): once another user has every
    // one of them, the node has handled them all, and a post made now is handled after them.
    const all = [...hidden, last.id];
    await watcher.until(
      (f) => all.every((id) => updates(f).some((x) => statusOf(x).id === id)),
      'every post, for another user',
    );
    const after = await post(plain, { text: 'after' });
    const frames = await socket.until(
      (f) => updates(f).some((x) => statusOf(x).id === after.id) && f,
      'the post made after',
    );
    const ids = updates(frames).map((f) => statusOf(f).id);
    for (const id of hidden) assert.ok(!ids.includes(id), 'hidden from the viewer');
    assert.ok(ids.includes(last.id), 'the plain post reached the viewer');
    assert.deepEqual(updates(frames).at(-1)!.stream, ['public:local']);
  });

  it('withdraws a post from public streams when an edit narrows its audience', async () => {
    const { ana, ben } = await users('ana', 'ben');
    const socket = await connect(ben, 'stream=public');
    const shown = await post(ana, { text: 'for everyone, for now' });
    await socket.until((f) => updates(f).some((x) => statusOf(x).id === shown.id), 'update');
    await json('PATCH', `/posts/${shown.id}`, ana, { visibility: 'followers' });
    const gone = await socket.until((f) => updates(f, 'delete')[0], 'delete');
    assert.equal(gone.payload, shown.id);
    assert.deepEqual(updates(socket.events, 'status.update'), [], 'no update of what is hidden');
  });

  it('routes a post to the streams it belongs to (media, tags, never remote)', () => {
    const subs = new Map([
      ['public', ['public']],
      ['public:media', ['public:media']],
      ['public:local:media', ['public:local:media']],
      ['public:remote', ['public:remote']],
      ['public:remote:media', ['public:remote:media']],
      ['hashtag:café', ['hashtag', '#Café']],
      ['hashtag:local:dogs', ['hashtag:local', 'dogs']],
    ]);
    const names = (tags: string[] | undefined, media: boolean | undefined) =>
      streamsFor(subs, tags, media).map((s) => s.join(' '));
    assert.deepEqual(names([], false), ['public']);
    assert.deepEqual(names(['café'], true), [
      'public',
      'public:media',
      'public:local:media',
      'hashtag #Café',
    ]);
    assert.deepEqual(names(['dogs'], false), ['public', 'hashtag:local dogs']);
    assert.deepEqual(names(undefined, undefined), [
      'public',
      'public:media',
      'public:local:media',
      'hashtag #Café',
      'hashtag:local dogs',
    ]);
  });
});
