/**
 * Mastodon's streaming API on the wire (`ws`, `fetch`): tokens by header, query and echoed
 * subprotocol, subscribe and unsubscribe frames, Mastodon frames with string payloads, the
 * SSE variant, and who gets what (own events only, muted authors left out, suspension).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import WebSocket from 'ws';
import { adminCommand } from '../../cli/admin.ts';
import { api } from '../../../test/support/api.ts';
import { drain } from '../../../test/support/drain.ts';
import type { Account } from '../../../test/support/factories.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { registerApp, userToken } from '../../../test/support/oauth-apps.ts';
import { type Inbox, openStream, terminateStreams } from '../../../test/support/streams.ts';
import { waitFor } from '../../../test/support/wait.ts';

const { app, ctx, worker } = await createTestAppWithWorker('mastodon-streaming');
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
const wsBase = base.replace(/^http/, 'ws');
after(async () => {
  terminateStreams();
  await worker.stop();
});

const { json, ok, call, users, follow, mute, post } = api(app);
type Frame = {
  stream?: string[];
  event?: string;
  payload?: string;
  error?: string;
  status?: number;
};
type Json = Record<string, unknown>;

/** Subscriptions of `stream` open on this node now (the gauge the route keeps). */
const subscriptions = async (stream: string) =>
  (await ctx.metrics.mastodonStreamSubscriptions.get()).values.find(
    (v) => v.labels.stream === stream,
  )?.value ?? 0;

/** Runs `act`, then waits until the node holds `delta` more subscriptions of `stream`. */
async function subscribed(stream: string, act: () => unknown, delta = 1) {
  const before = await subscriptions(stream);
  await act();
  await waitFor(async () => (await subscriptions(stream)) === before + delta, `${stream} ${delta}`);
}

/** A socket of `who` subscribed to `stream` with `?stream=` (megalodon's way). */
async function connect(who: Account, stream = 'user'): Promise<Inbox<Frame>> {
  let inbox: Inbox<Frame> | undefined;
  await subscribed(stream, async () => {
    inbox = await openStream<Frame>(`${wsBase}/api/v1/streaming?stream=${stream}`, who.auth);
  });
  return inbox!;
}

/** Reading the home feed makes kith keep that timeline, which fan-out (and so `update`) needs. */
const readHome = (who: Account) => ok(call('GET', '/feed', who));

/** The HTTP status a refused WebSocket handshake got. */
function refusal(url: string, protocols: string[] = [], headers: Json = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { headers: headers as Record<string, string> });
    socket.on('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    socket.on('open', () => reject(new Error('the handshake succeeded')));
    socket.on('error', () => {});
  });
}

const events = (frames: Frame[], event: string) => frames.filter((f) => f.event === event);

describe('Mastodon streaming', () => {
  it('answers the health check and refuses missing or bad tokens before the upgrade', async () => {
    const health = await fetch(`${base}/api/v1/streaming/health`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'OK');
    assert.match(health.headers.get('content-type') ?? '', /^text\/plain/);

    const url = `${wsBase}/api/v1/streaming?stream=user`;
    assert.equal(await refusal(url), 401);
    assert.equal(await refusal(url, ['AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']), 401);
    assert.equal(await refusal(`${url}&access_token=nope`), 401);
    assert.equal(await refusal(url, [], { authorization: 'Bearer nope' }), 401);
    const plain = await fetch(url.replace(/^ws/, 'http'), {
      headers: { authorization: 'Bearer nope' },
    });
    assert.equal(plain.status, 401);
    assert.deepEqual(Object.keys((await plain.json()) as Json), [
      'error',
      'error_description',
      'code',
    ]);
  });

  it('takes an OAuth token as the subprotocol, echoes it, and follows subscribe frames', async () => {
    const { ana, ben } = await users('ana', 'ben');
    const token = await userToken(app, await registerApp(app), ana);
    await follow(ana, ben);
    await readHome(ana);
    let inbox: Inbox<Frame> | undefined;
    await subscribed('user:notification', async () => {
      inbox = await openStream<Frame>(`${wsBase}/api/v1/streaming`, {}, [token]);
      assert.equal(inbox.socket.protocol, token, 'the subprotocol is echoed');
      inbox.socket.send(JSON.stringify({ type: 'subscribe', stream: 'user:notification' }));
    });
    const socket = inbox!;
    // Subscribed to notifications only: the post does not come, the follow notification does.
    await post(ben, { text: 'not on this stream' });
    await drain(ctx);
    await follow(ben, ana);
    const note = await socket.until((f) => events(f, 'notification')[0], 'notification');
    assert.deepEqual(note.stream, ['user:notification']);
    assert.equal(typeof note.payload, 'string', 'the payload is a JSON string');
    const notification = JSON.parse(note.payload!) as Json;
    assert.equal(notification.type, 'follow');
    assert.equal((notification.account as Json).id, ben.id);
    assert.deepEqual(events(socket.events, 'update'), []);

    // Now `user` too, then off `user:notification` again.
    await subscribed('user', () =>
      socket.socket.send(JSON.stringify({ type: 'subscribe', stream: 'user' })),
    );
    await subscribed(
      'user:notification',
      () =>
        socket.socket.send(JSON.stringify({ type: 'unsubscribe', stream: 'user:notification' })),
      -1,
    );
    const mine = await post(ben, { text: 'on the user stream' });
    await drain(ctx);
    const update = await socket.until((f) => events(f, 'update')[0], 'update');
    assert.deepEqual(update.stream, ['user']);
    assert.equal((JSON.parse(update.payload!) as Json).id, mine.id);
    await socket.close();
  });

  it('answers Mastodon errors to bad subscriptions and keeps the socket', async () => {
    const { cy } = await users('cy');
    const socket = await connect(cy);
    for (const frame of [
      { type: 'subscribe', stream: 'nonsense' },
      { type: 'subscribe', stream: 'hashtag' },
    ])
      socket.socket.send(JSON.stringify(frame));
    socket.socket.send('not json');
    const errors = await socket.until((f) => f.length >= 3 && f, 'three errors');
    assert.deepEqual(errors, [
      { error: 'Unknown stream type', status: 400 },
      { error: 'No tag for stream provided', status: 400 },
      { error: 'Error parsing JSON', status: 400 },
    ]);
    // Public and hashtag streams are accepted (and silent: kith has no public stream).
    await subscribed('public', () =>
      socket.socket.send(JSON.stringify({ type: 'subscribe', stream: 'public' })),
    );
    await subscribed('hashtag', () =>
      socket.socket.send(JSON.stringify({ type: 'subscribe', stream: 'hashtag', tag: 'cats' })),
    );
    assert.equal(socket.socket.readyState, WebSocket.OPEN);
    await socket.close();
  });

  it('sends update, status.update and delete, leaving out muted authors and other users', async () => {
    const { dee, eve, fay, gus } = await users('dee', 'eve', 'fay', 'gus');
    await follow(dee, eve);
    await follow(dee, fay);
    await follow(gus, eve);
    await mute(dee, fay);
    await readHome(dee);
    await readHome(gus);
    // Token in the query, as megalodon sends it.
    let dees: Inbox<Frame> | undefined;
    await subscribed('user', async () => {
      const url = `${wsBase}/api/v1/streaming?stream=user&access_token=${dee.accessToken}`;
      dees = await openStream<Frame>(url, {});
    });
    const guss = await connect(gus);

    await post(fay, { text: 'muted' });
    await drain(ctx);
    const first = await post(eve, { text: 'first' });
    await drain(ctx);
    await json('PATCH', `/posts/${first.id}`, eve, { text: 'first, edited' });
    await drain(ctx);
    await json('DELETE', `/posts/${first.id}`, eve, undefined, 204);
    await drain(ctx);

    const got = await dees!.until((f) => events(f, 'delete').length > 0 && f, 'delete');
    assert.deepEqual(
      got.map((f) => f.event),
      ['update', 'status.update', 'delete'],
      'the muted author’s post never came',
    );
    const [update, edit, gone] = got;
    assert.equal((JSON.parse(update!.payload!) as Json).content, '<p>first</p>');
    const edited = JSON.parse(edit!.payload!) as Json;
    assert.equal(edited.id, first.id);
    assert.equal(edited.content, '<p>first, edited</p>');
    assert.ok(edited.edited_at);
    assert.equal(gone!.payload, first.id, 'delete carries the bare id');

    // gus, who follows eve only, got eve's posts and nothing of dee's (fay's post nor dee's).
    await guss.until((f) => events(f, 'delete').length > 0, 'gus delete');
    assert.deepEqual(
      guss.events.map((f) => f.event),
      ['update', 'status.update', 'delete'],
    );
    await Promise.all([dees!.close(), guss.close()]);
  });

  it('serves the user stream as Server-Sent Events', async () => {
    const { hal, ida } = await users('hal', 'ida');
    await follow(hal, ida);
    await readHome(hal);
    const controller = new AbortController();
    let res: Response | undefined;
    await subscribed('user', async () => {
      res = await fetch(`${base}/api/v1/streaming/user`, {
        headers: hal.auth,
        signal: controller.signal,
      });
    });
    assert.equal(res!.status, 200);
    assert.match(res!.headers.get('content-type') ?? '', /^text\/event-stream/);
    const created = await post(ida, { text: 'over sse' });
    await drain(ctx);
    const reader = res!.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('event: update')) text += (await reader.read()).value ?? '';
    while (!/event: update\ndata: .*\n\n/.test(text)) text += (await reader.read()).value ?? '';
    const data = /event: update\ndata: (.*)\n\n/.exec(text)![1]!;
    assert.equal((JSON.parse(data) as Json).id, created.id);
    await subscribed('user', () => controller.abort(), -1);
  });

  it('closes the stream of a suspended account (4003) and refuses it afterwards', async () => {
    const { mod, jo } = await users('mod', 'jo');
    assert.equal(await adminCommand(['grant', mod.username, 'moderator'], ctx), 0);
    const socket = await connect(jo);
    await ok(call('POST', `/admin/accounts/${jo.username}/suspend`, mod, { reason: 'spam' }));
    assert.equal(await socket.closed, 4003);
    assert.equal(await refusal(`${wsBase}/api/v1/streaming?stream=user`, [], jo.auth), 403);
  });
});
