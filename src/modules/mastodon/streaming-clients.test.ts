/**
 * Mastodon's streaming API driven by the client libraries apps use: masto.js
 * (`createStreamingAPIClient`, token as the subprotocol or in the query) and megalodon
 * (`userStreaming`, token in the query), both finding the server through the instance's
 * streaming URL, both acting through the Mastodon REST API with OAuth tokens.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createRestAPIClient, createStreamingAPIClient, type mastodon } from 'masto';
import generator, { type Entity } from 'megalodon';
import WebSocket from 'ws';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { api } from '../../../test/support/api.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { registerApp, userToken } from '../../../test/support/oauth-apps.ts';
import { waitFor } from '../../../test/support/wait.ts';

const { app, ctx, worker } = await createTestAppWithWorker('mastodon-streaming-clients');
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await worker.stop();
});

const { users } = api(app);
const client = await registerApp(app);

/** Subscriptions of `stream` open on this node now (the gauge the route keeps). */
const subscriptions = async (stream: string) =>
  (await ctx.metrics.mastodonStreamSubscriptions.get()).values.find(
    (v) => v.labels.stream === stream,
  )?.value ?? 0;

/** Items that arrive over time, and a wait for one that matches. */
class Collected<T> {
  readonly items: T[] = [];
  async until(probe: (item: T) => boolean, what: string): Promise<T> {
    return waitFor(() => this.items.find(probe), what);
  }
}

/** Collects a masto subscription's events in the background (until the client closes). */
function collect(sub: AsyncIterable<mastodon.streaming.Event>) {
  const out = new Collected<mastodon.streaming.Event>();
  void (async () => {
    try {
      for await (const event of sub) out.items.push(event);
    } catch {
      // The client was closed.
    }
  })();
  return out;
}

async function signIn(who: Account) {
  const token = await userToken(app, client, who, 'read write follow');
  return { token, rest: createRestAPIClient({ url: base, accessToken: token }) };
}

describe('Mastodon streaming with client libraries', () => {
  it('masto.js gets update, status.update, delete and notification on user streams', async () => {
    const { ana, ben } = await users('ana', 'ben');
    const [a, b] = await Promise.all([signIn(ana), signIn(ben)]);
    await a.rest.v1.accounts.$select(ben.id).follow();
    await a.rest.v1.timelines.home.list(); // so kith keeps ana's home timeline
    const instance = await a.rest.v2.instance.fetch();
    assert.equal(instance.configuration.urls.streaming, base.replace(/^http/, 'ws'));

    const before = [await subscriptions('user'), await subscriptions('user:notification')];
    const stream = createStreamingAPIClient({
      streamingApiUrl: instance.configuration.urls.streaming,
      accessToken: a.token,
      implementation: WebSocket,
      retry: false,
    });
    closers.push(() => stream.close());
    const home = collect(stream.user.subscribe());
    const notes = collect(stream.user.notification.subscribe());
    await waitFor(
      async () =>
        (await subscriptions('user')) === before[0]! + 1 &&
        (await subscriptions('user:notification')) === before[1]! + 1,
      'both subscriptions',
    );

    const status = await b.rest.v1.statuses.create({ status: 'hello from ben' });
    await drain(ctx);
    const update = await home.until((e) => e.event === 'update', 'update');
    assert.equal((update.payload as mastodon.v1.Status).id, status.id);
    assert.equal((update.payload as mastodon.v1.Status).account.id, ben.id);

    await b.rest.v1.statuses.$select(status.id).update({ status: 'hello again' });
    await drain(ctx);
    const edit = await home.until((e) => e.event === 'status.update', 'status.update');
    assert.match((edit.payload as mastodon.v1.Status).content, /hello again/);

    await b.rest.v1.statuses.$select(status.id).remove();
    await drain(ctx);
    const gone = await home.until((e) => e.event === 'delete', 'delete');
    assert.equal(gone.payload, status.id);

    const mine = await a.rest.v1.statuses.create({ status: 'like this' });
    await b.rest.v1.statuses.$select(mine.id).favourite();
    await drain(ctx);
    for (const inbox of [home, notes]) {
      const note = await inbox.until((e) => e.event === 'notification', 'notification');
      const payload = note.payload as mastodon.v1.Notification;
      assert.equal(payload.type, 'favourite');
      assert.equal(payload.account.id, ben.id);
      assert.equal(payload.status.id, mine.id);
    }
    // The notification stream carries notifications only.
    assert.deepEqual(
      notes.items.map((e) => e.event),
      ['notification'],
    );
    stream.close();
  });

  it('masto.js replies, reads the thread and hears of a reply as a mention', async () => {
    const { gil, hal } = await users('gil', 'hal');
    const [g, h] = await Promise.all([signIn(gil), signIn(hal)]);
    const before = await subscriptions('user:notification');
    const stream = createStreamingAPIClient({
      streamingApiUrl: base.replace(/^http/, 'ws'),
      accessToken: g.token,
      implementation: WebSocket,
      retry: false,
    });
    closers.push(() => stream.close());
    const notes = collect(stream.user.notification.subscribe());
    await waitFor(
      async () => (await subscriptions('user:notification')) === before + 1,
      'subscribed',
    );

    const post = await g.rest.v1.statuses.create({ status: 'thread' });
    const reply = await h.rest.v1.statuses.create({ status: 'a reply', inReplyToId: post.id });
    assert.equal(reply.inReplyToId, post.id);
    assert.equal(reply.inReplyToAccountId, gil.id);
    const answer = await g.rest.v1.statuses.create({ status: 'back', inReplyToId: reply.id });
    const thread = await g.rest.v1.statuses.$select(post.id).context.fetch();
    assert.deepEqual(thread.ancestors, []);
    assert.deepEqual(
      thread.descendants.map((s) => s.id),
      [reply.id, answer.id],
    );
    const around = await h.rest.v1.statuses.$select(reply.id).context.fetch();
    assert.deepEqual(
      around.ancestors.map((s) => s.id),
      [post.id],
    );
    assert.equal((await g.rest.v1.statuses.$select(post.id).fetch()).repliesCount, 2);

    await drain(ctx);
    const note = await notes.until((e) => e.event === 'notification', 'notification');
    const payload = note.payload as mastodon.v1.Notification;
    assert.equal(payload.type, 'mention');
    assert.equal(payload.status?.id, reply.id);
    assert.equal(payload.account.id, hal.id);
    const listed = await g.rest.v1.notifications.list({ types: ['mention'] });
    assert.deepEqual(
      listed.map((n) => n.status?.id),
      [reply.id],
    );
    stream.close();
  });

  it('masto.js with the token in the query (useInsecureAccessToken)', async () => {
    const { cy, dee } = await users('cy', 'dee');
    const [c, d] = await Promise.all([signIn(cy), signIn(dee)]);
    await c.rest.v1.accounts.$select(dee.id).follow();
    await c.rest.v1.timelines.home.list();
    const before = await subscriptions('user');
    const stream = createStreamingAPIClient({
      streamingApiUrl: base.replace(/^http/, 'ws'),
      accessToken: c.token,
      implementation: WebSocket,
      useInsecureAccessToken: true,
      retry: false,
    });
    closers.push(() => stream.close());
    const home = collect(stream.user.subscribe());
    await waitFor(async () => (await subscriptions('user')) === before + 1, 'subscribed');
    const status = await d.rest.v1.statuses.create({ status: 'via the query' });
    await drain(ctx);
    const update = await home.until((e) => e.event === 'update', 'update');
    assert.equal((update.payload as mastodon.v1.Status).id, status.id);
    stream.close();
  });

  it('megalodon userStreaming gets update and notification', async () => {
    const { eve, fay } = await users('eve', 'fay');
    const [e, f] = await Promise.all([signIn(eve), signIn(fay)]);
    await e.rest.v1.accounts.$select(fay.id).follow();
    await e.rest.v1.timelines.home.list();
    const mega = generator('mastodon', base, e.token);
    const before = await subscriptions('user');
    const socket = await mega.userStreaming();
    closers.push(() => socket.stop());
    const updates = new Collected<Entity.Status>();
    const notes = new Collected<Entity.Notification>();
    socket.on('update', (s: Entity.Status) => updates.items.push(s));
    socket.on('notification', (n: Entity.Notification) => notes.items.push(n));
    await waitFor(async () => (await subscriptions('user')) === before + 1, 'subscribed');

    const status = await f.rest.v1.statuses.create({ status: 'for megalodon' });
    await drain(ctx);
    await updates.until((s) => s.id === status.id, 'update');
    await f.rest.v1.accounts.$select(eve.id).follow();
    await drain(ctx);
    const note = await notes.until((n) => n.type === 'follow', 'follow notification');
    assert.equal(note.account?.id, fay.id);
    socket.stop();
  });
});
