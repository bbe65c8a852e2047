/**
 * "Send a direct message" as Mastodon apps do it, with masto.js and megalodon: a `direct`
 * status, and the `conversation` event on the `direct` stream of both members.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStreamingAPIClient, type mastodon } from 'masto';
import generator, { type Entity } from 'megalodon';
import WebSocket from 'ws';
import { api } from '../../../test/support/api.ts';
import { clientLibrariesApp } from '../../../test/support/mastodon-clients.ts';
import { waitFor } from '../../../test/support/wait.ts';

const { app, base, closers, subscriptions, signIn } = await clientLibrariesApp(
  'mastodon-conversations-streaming',
);
const { users } = api(app);

describe('Mastodon direct messages with client libraries', () => {
  it('masto.js: a direct status reaches both members as a conversation on direct, not on user', async () => {
    const { ana, bob } = await users('ana', 'bob');
    const [a, b] = await Promise.all([signIn(ana), signIn(bob)]);
    const streams = [a, b].map(({ token }) => {
      const stream = createStreamingAPIClient({
        streamingApiUrl: base.replace(/^http/, 'ws'),
        accessToken: token,
        implementation: WebSocket,
        retry: false,
      });
      closers.push(() => stream.close());
      return stream;
    });
    const events = streams.map(() => [] as mastodon.streaming.Event[]);
    const before = [await subscriptions('direct'), await subscriptions('user')];
    streams.forEach((stream, i) => {
      for (const sub of [stream.direct.subscribe(), stream.user.subscribe()])
        void (async () => {
          try {
            for await (const event of sub) events[i]!.push(event);
          } catch {
            // The client was closed.
          }
        })();
    });
    await waitFor(
      async () =>
        (await subscriptions('direct')) === before[0]! + 2 &&
        (await subscriptions('user')) === before[1]! + 2,
      'subscriptions',
    );

    const status = await a.rest.v1.statuses.create({
      status: `@${bob.username} hi`,
      visibility: 'direct',
    });
    assert.equal(status.visibility, 'direct');
    assert.deepEqual(
      status.mentions.map((u) => u.id),
      [bob.id],
    );
    for (const [i, other] of [
      [0, bob],
      [1, ana],
    ] as const) {
      const event = await waitFor(
        () => events[i]!.find((e) => e.event === 'conversation'),
        'conversation',
      );
      assert.deepEqual(event.stream, ['direct']);
      const conversation = event.payload;
      assert.equal(conversation.lastStatus?.id, status.id);
      assert.deepEqual(
        conversation.accounts.map((u) => u.id),
        [other.id],
      );
      assert.equal(conversation.unread, i === 1);
    }

    // Bob reads it through the REST API, replies, and marks the conversation read.
    const [listed] = await b.rest.v1.conversations.list();
    assert.equal(listed!.lastStatus?.id, status.id);
    const reply = await b.rest.v1.statuses.create({
      status: `@${ana.username} hello`,
      visibility: 'direct',
      inReplyToId: status.id,
    });
    assert.equal(reply.inReplyToId, status.id);
    const context = await a.rest.v1.statuses.$select(reply.id).context.fetch();
    assert.deepEqual(
      context.ancestors.map((s) => s.id),
      [status.id],
    );
    const read = await a.rest.v1.conversations.$select(listed!.id).read();
    assert.equal(read.unread, false);
    await waitFor(
      () =>
        events[0]!.find((e) => e.event === 'conversation' && e.payload.lastStatus?.id === reply.id),
      'the reply',
    );
    // DMs stay out of the home stream.
    for (const list of events) assert.ok(list.every((e) => e.event === 'conversation'));
    for (const stream of streams) stream.close();
  });

  it('megalodon directStreaming gets conversation', async () => {
    const { cy, dee } = await users('cy', 'dee');
    const [c, d] = await Promise.all([signIn(cy), signIn(dee)]);
    const mega = generator('mastodon', base, c.token);
    const before = await subscriptions('direct');
    const socket = await mega.directStreaming();
    closers.push(() => socket.stop());
    const received: Entity.Conversation[] = [];
    socket.on('conversation', (conversation: Entity.Conversation) => received.push(conversation));
    await waitFor(async () => (await subscriptions('direct')) === before + 1, 'subscribed');

    const sent = await generator('mastodon', base, d.token).postStatus(`@${cy.username} hey`, {
      visibility: 'direct',
    });
    const status = sent.data as Entity.Status;
    const conversation = await waitFor(
      () => received.find((x) => x.last_status?.id === status.id),
      'conversation',
    );
    assert.equal(conversation.unread, true);
    assert.deepEqual(
      conversation.accounts.map((u) => u.id),
      [dee.id],
    );
    const listed = await mega.getConversationTimeline();
    assert.equal(listed.data[0]?.last_status?.id, status.id);
    socket.stop();
  });
});
