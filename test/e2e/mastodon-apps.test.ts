/**
 * A day in a Mastodon app, driven by the client libraries apps are built on (masto 8 and
 * megalodon 10) against a real kith: on the embedded defaults, and on Postgres + Redis +
 * RabbitMQ behind two API nodes and nginx (see test/support/mastodon-stack.ts), where the
 * streams are held by one node while the writes land on either.
 *
 * Each library: registers an app, signs two people in through /oauth/authorize with PKCE (the
 * form filled as a browser would), verifies credentials, updates a profile, follows, accepts a
 * follow request, posts, replies, favourites, edits, deletes, pages every timeline to its end,
 * reads, dismisses and clears notifications, sets markers, sends a direct message, receives
 * `update`, `status.update`, `delete`, `notification` and `conversation` on streams, and
 * revokes its token.
 */
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  createOAuthAPIClient,
  createRestAPIClient,
  createStreamingAPIClient,
  MastoHttpError,
  type mastodon,
} from 'masto';
import generator, { type Entity, type MegalodonInterface } from 'megalodon';
import WebSocket from 'ws';
import { callServer } from '../support/http-client.ts';
import {
  person,
  REDIRECT,
  signInWithPkce,
  startMastodonStack,
  subscriptions,
  type MastodonStack,
  type Person,
} from '../support/mastodon-stack.ts';
import { testImage } from '../support/media.ts';
import { waitFor } from '../support/wait.ts';

const SCOPES = 'read write follow';
let stack: MastodonStack;
const closers: (() => void)[] = [];

before(async () => {
  stack = await startMastodonStack('mastodon-apps');
});
after(async () => {
  for (const close of closers) close();
  await stack?.stop();
});

/** Things that arrive over time, and a wait for one that matches. */
class Inbox<T> {
  readonly items: T[] = [];
  until(probe: (item: T) => boolean, what: string): Promise<T> {
    // Across nodes an event travels through RabbitMQ and the worker: allow for a busy machine.
    return waitFor(() => this.items.find(probe), what, 20_000);
  }
}

/** Every item of every page, checking that no item comes twice. */
async function allPages<T extends { id: string }>(pages: AsyncIterable<T[]>): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of pages) ids.push(...page.map((item) => item.id));
  assert.equal(new Set(ids).size, ids.length, `an item came twice: ${ids.join(' ')}`);
  return ids;
}

/** A friend request through kith's own API (Mastodon apps cannot send one), with an app token. */
async function friendRequest(from: string, to: Person) {
  const path = `/api/v1/users/${to.username}/friend-request`;
  const res = await callServer(stack.url, 'POST', path, undefined, from);
  assert.equal(res.status, 201, res.text);
}

describe('masto 8', () => {
  let ana: Person, ben: Person, cal: Person;
  let app: mastodon.v1.Client;
  let a: mastodon.rest.Client, b: mastodon.rest.Client;
  let aToken: string, bToken: string;
  const home = new Inbox<mastodon.streaming.Event>();
  const bens = new Inbox<mastodon.streaming.Event>();
  let posted: mastodon.v1.Status;

  it('registers an app and signs two people in with PKCE through the browser form', async () => {
    [ana, ben, cal] = await Promise.all([
      person(stack, 'ana'),
      person(stack, 'ben'),
      person(stack, 'cal'),
    ]);
    const anonymous = createRestAPIClient({ url: stack.url });
    app = await anonymous.v1.apps.create({
      clientName: 'masto day',
      redirectUris: REDIRECT,
      scopes: SCOPES,
    });
    const oauth = createOAuthAPIClient({ url: stack.url });
    const tokenOf = async (who: Person) => {
      const { code, verifier } = await signInWithPkce(
        stack,
        app as { clientId: string },
        who,
        SCOPES,
      );
      const token = await oauth.token.create({
        grantType: 'authorization_code',
        clientId: app.clientId!,
        clientSecret: app.clientSecret!,
        redirectUri: REDIRECT,
        code,
        codeVerifier: verifier,
      } as Parameters<typeof oauth.token.create>[0]);
      assert.equal(token.scope, SCOPES);
      return token.accessToken;
    };
    aToken = await tokenOf(ana);
    bToken = await tokenOf(ben);
    a = createRestAPIClient({ url: stack.url, accessToken: aToken });
    b = createRestAPIClient({ url: stack.url, accessToken: bToken });
    assert.equal((await a.v1.accounts.verifyCredentials()).id, ana.id);
    assert.equal((await b.v1.accounts.verifyCredentials()).username, ben.username);
    // Ben asks for ana's friendship through kith's API with his app token.
    await friendRequest(bToken, ana);
  });

  it('updates the profile with a picture (multipart)', async () => {
    const avatar = new Blob([await testImage('png', 200, 200)], { type: 'image/png' });
    const me = await a.v1.accounts.updateCredentials({
      displayName: 'Ana from masto',
      note: 'Line one\nline two',
      avatar,
    });
    assert.equal(me.displayName, 'Ana from masto');
    assert.equal(me.source?.note, 'Line one\nline two');
    assert.doesNotMatch(me.avatar, /missing\.png$/);
    const picture = await fetch(me.avatar);
    assert.equal(picture.status, 200);
    assert.match(picture.headers.get('content-type') ?? '', /^image\//);
  });

  it('follows, and accepts a follow request', async () => {
    const following = await a.v1.accounts.$select(cal.id).follow();
    assert.equal(following.following, true);
    const requests = await a.v1.followRequests.list();
    assert.deepEqual(
      requests.map((r) => r.id),
      [ben.id],
    );
    const accepted = await a.v1.followRequests.$select(ben.id).authorize();
    assert.equal(accepted.followedBy, true);
    assert.deepEqual(await a.v1.followRequests.list(), []);
    const [rel] = await a.v1.accounts.relationships.fetch({ id: [ben.id] });
    assert.deepEqual([rel!.following, rel!.followedBy], [true, true]);
  });

  it('streams: ana on user and direct, ben on user', async () => {
    // An app reads the home timeline on start, which keeps it.
    await a.v1.timelines.home.list();
    const streaming = (await a.v2.instance.fetch()).configuration.urls.streaming;
    const before = await subscriptions(stack, 'user');
    for (const [token, inbox, streams] of [
      [aToken, home, ['user', 'direct']],
      [bToken, bens, ['user']],
    ] as const) {
      const client = createStreamingAPIClient({
        streamingApiUrl: streaming,
        accessToken: token,
        implementation: WebSocket,
        retry: false,
      });
      closers.push(() => client.close());
      for (const name of streams) {
        const sub = name === 'user' ? client.user.subscribe() : client.direct.subscribe();
        void (async () => {
          try {
            for await (const event of sub) inbox.items.push(event);
          } catch {
            // closed
          }
        })();
      }
    }
    await waitFor(
      async () => (await subscriptions(stack, 'user')) === before + 2,
      'both user subscriptions',
    );
  });

  it('posts: the follower gets `update`', async () => {
    posted = await b.v1.statuses.create(
      { status: 'Hello from masto, @' + ana.username },
      { requestInit: { headers: { 'Idempotency-Key': `masto-${ben.id}` } } },
    );
    // The same key again: the same status, not a second one.
    const again = await b.v1.statuses.create(
      { status: 'Hello from masto, @' + ana.username },
      { requestInit: { headers: { 'Idempotency-Key': `masto-${ben.id}` } } },
    );
    assert.equal(again.id, posted.id);
    const update = await home.until(
      (e) => e.event === 'update' && e.payload.id === posted.id,
      'update',
    );
    assert.equal((update.payload as mastodon.v1.Status).account.id, ben.id);
  });

  it('favourites and replies: the author gets notifications', async () => {
    const liked = await a.v1.statuses.$select(posted.id).favourite();
    assert.equal(liked.favourited, true);
    const likers = await b.v1.statuses.$select(posted.id).favouritedBy.list();
    assert.deepEqual(
      likers.map((x) => x.id),
      [ana.id],
    );
    await bens.until(
      (e) => e.event === 'notification' && e.payload.type === 'favourite',
      'favourite notification',
    );
    const reply = await a.v1.statuses.create({
      status: `@${ben.username} nice one`,
      inReplyToId: posted.id,
    });
    assert.equal(reply.inReplyToId, posted.id);
    const context = await b.v1.statuses.$select(posted.id).context.fetch();
    assert.deepEqual(
      context.descendants.map((s) => s.id),
      [reply.id],
    );
    const mention = await bens.until(
      (e) => e.event === 'notification' && e.payload.type === 'mention',
      'mention notification',
    );
    assert.equal((mention.payload as mastodon.v1.Notification).status?.id, reply.id);
    const favourites = await allPages(a.v1.favourites.list({ limit: 1 }));
    assert.deepEqual(favourites, [posted.id]);
  });

  it('edits: followers get `status.update`, the history has both versions', async () => {
    await b.v1.statuses.$select(posted.id).update({ status: 'Edited from masto' });
    const edit = await home.until(
      (e) => e.event === 'status.update' && e.payload.id === posted.id,
      'status.update',
    );
    assert.match((edit.payload as mastodon.v1.Status).content, /Edited from masto/);
    const history = await a.v1.statuses.$select(posted.id).history.list();
    assert.equal(history.length, 2);
  });

  it('pages every timeline to its end with the paginator', async () => {
    const more = [];
    for (let i = 0; i < 5; i++)
      more.push(await b.v1.statuses.create({ status: `page ${i} #mastoday` }));
    const calPost = await createRestAPIClient({
      url: stack.url,
      accessToken: cal.token,
    }).v1.statuses.create({ status: 'from cal #mastoday' });
    const expected = [calPost.id, ...more.map((s) => s.id).reverse(), posted.id];
    await waitFor(async () => {
      const ids = await allPages(a.v1.timelines.home.list({ limit: 2 }));
      return expected.every((id) => ids.includes(id));
    }, 'every post on the home timeline');
    const homeIds = await allPages(a.v1.timelines.home.list({ limit: 2 }));
    assert.deepEqual(
      homeIds.filter((id) => expected.includes(id)),
      expected,
    );
    const bensIds = await allPages(a.v1.accounts.$select(ben.id).statuses.list({ limit: 2 }));
    assert.deepEqual(bensIds, [...more.map((s) => s.id).reverse(), posted.id]);
    const tagged = await allPages(a.v1.timelines.tag.$select('mastoday').list({ limit: 2 }));
    assert.deepEqual(tagged, [calPost.id, ...more.map((s) => s.id).reverse()]);
    const pub = await allPages(a.v1.timelines.public.list({ limit: 3 }));
    assert.deepEqual(
      pub.filter((id) => expected.includes(id)),
      expected,
    );
    const notes = await allPages(b.v1.notifications.list({ limit: 1 }));
    assert.ok(notes.length >= 3, `ben's notifications: ${notes.length}`);
  });

  it('reads, dismisses and clears notifications; sets markers', async () => {
    const [first, ...rest] = await b.v1.notifications.list();
    assert.ok(first && rest.length > 0);
    await b.v1.notifications.$select(first.id).dismiss();
    const after = await b.v1.notifications.list();
    assert.ok(!after.some((n) => n.id === first.id));
    await b.v1.notifications.clear();
    assert.deepEqual(await b.v1.notifications.list(), []);

    const [newest] = await a.v1.timelines.home.list({ limit: 1 });
    await a.v1.markers.create({ home: { lastReadId: newest!.id } });
    const markers = await a.v1.markers.fetch({ timeline: ['home'] });
    assert.equal(markers.home?.lastReadId, newest!.id);
  });

  it('sends a direct message: a conversation for both, `conversation` on the stream', async () => {
    const dm = await b.v1.statuses.create({
      status: `@${ana.username} just between us`,
      visibility: 'direct',
    });
    assert.equal(dm.visibility, 'direct');
    const event = await home.until((e) => e.event === 'conversation', 'conversation');
    assert.equal((event.payload as mastodon.v1.Conversation).lastStatus?.id, dm.id);
    const conversations = await a.v1.conversations.list();
    assert.equal(conversations[0]?.lastStatus?.id, dm.id);
    assert.deepEqual(
      conversations[0]?.accounts.map((x) => x.id),
      [ben.id],
    );
    // Direct messages stay out of the home timeline.
    assert.ok(!(await a.v1.timelines.home.list()).some((s) => s.id === dm.id));
  });

  it('deletes: followers get `delete`', async () => {
    await b.v1.statuses.$select(posted.id).remove();
    await home.until((e) => e.event === 'delete' && e.payload === posted.id, 'delete');
    await assert.rejects(a.v1.statuses.$select(posted.id).fetch(), isStatus(404));
  });

  it('revokes the token: refused at once, on every node', async () => {
    const oauth = createOAuthAPIClient({ url: stack.url });
    await oauth.revoke({ clientId: app.clientId!, clientSecret: app.clientSecret!, token: aToken });
    // Several calls, so both nodes behind nginx are asked.
    for (let i = 0; i < 4; i++)
      await assert.rejects(a.v1.accounts.verifyCredentials(), isStatus(401));
    assert.equal((await b.v1.accounts.verifyCredentials()).id, ben.id);
  });
});

const isStatus = (status: number) => (err: unknown) => {
  assert.ok(err instanceof MastoHttpError, String(err));
  assert.equal(err.statusCode, status);
  return true;
};

describe('megalodon 10', () => {
  let dot: Person, eli: Person;
  let d: MegalodonInterface, e: MegalodonInterface;
  let app: { client_id: string; client_secret: string };
  let dToken: string;
  const dots = new Inbox<[string, unknown]>();
  const elis = new Inbox<[string, unknown]>();
  let posted: Entity.Status;

  it('registers an app and signs two people in with PKCE', async () => {
    [dot, eli] = await Promise.all([person(stack, 'dot'), person(stack, 'eli')]);
    const anonymous = generator('mastodon', stack.url);
    app = await anonymous.registerApp('megalodon day', {
      scopes: SCOPES.split(' '),
      redirect_uris: REDIRECT,
    });
    const tokenOf = async (who: Person) => {
      const { code, verifier } = await signInWithPkce(
        stack,
        { clientId: app.client_id },
        who,
        SCOPES,
      );
      // megalodon's fetchAccessToken has no code_verifier: the token request as it would be
      // sent by an app that does PKCE with megalodon's OAuth client underneath.
      const res = await fetch(`${stack.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'authorization_code',
          client_id: app.client_id,
          client_secret: app.client_secret,
          redirect_uri: REDIRECT,
          code,
          code_verifier: verifier,
        }),
      });
      assert.equal(res.status, 200);
      return ((await res.json()) as { access_token: string }).access_token;
    };
    dToken = await tokenOf(dot);
    const eToken = await tokenOf(eli);
    d = generator('mastodon', stack.url, dToken);
    e = generator('mastodon', stack.url, eToken);
    assert.equal((await d.verifyAccountCredentials()).data.id, dot.id);
    assert.equal((await d.verifyAppCredentials()).data.name, 'megalodon day');
    await friendRequest(eToken, dot);
  });

  it('updates the profile and uploads a picture (multipart)', async () => {
    const me = await d.updateCredentials({ display_name: 'Dot from megalodon', note: 'hi' });
    assert.equal(me.data.display_name, 'Dot from megalodon');
    // megalodon uploads a file stream, as apps on Node do.
    const path = join(mkdtempSync(join(tmpdir(), 'kith-megalodon-')), 'noise.jpg');
    writeFileSync(path, await testImage('jpeg', 64, 48));
    const media = await d.uploadMedia(createReadStream(path), { description: 'noise' });
    assert.equal(media.data.type, 'image');
    assert.ok((media.data as Entity.Attachment).url);
  });

  it('accepts a follow request', async () => {
    const requests = await d.getFollowRequests();
    assert.deepEqual(
      requests.data.map((r) => r.id),
      [eli.id],
    );
    const rel = await d.acceptFollowRequest(eli.id);
    assert.equal(rel.data.followed_by, true);
  });

  it('streams on user and direct', async () => {
    await d.getHomeTimeline();
    const before = await subscriptions(stack, 'user');
    for (const [client, inbox] of [
      [d, dots],
      [e, elis],
    ] as const) {
      const socket = await client.userStreaming();
      closers.push(() => socket.stop());
      for (const name of ['update', 'notification', 'delete', 'status_update', 'conversation'])
        socket.on(name, (payload: unknown) => inbox.items.push([name, payload]));
    }
    const direct = await d.directStreaming();
    closers.push(() => direct.stop());
    direct.on('conversation', (c: unknown) => dots.items.push(['conversation', c]));
    await waitFor(
      async () => (await subscriptions(stack, 'user')) === before + 2,
      'both user subscriptions',
    );
  });

  it('posts, favourites, replies, edits', async () => {
    posted = (await e.postStatus('Hello from megalodon')).data as Entity.Status;
    await dots.until(([n, s]) => n === 'update' && (s as Entity.Status).id === posted.id, 'update');
    assert.equal((await d.favouriteStatus(posted.id)).data.favourited, true);
    await elis.until(
      ([n, x]) => n === 'notification' && (x as Entity.Notification).type === 'favourite',
      'favourite notification',
    );
    const reply = (await d.postStatus(`@${eli.username} indeed`, { in_reply_to_id: posted.id }))
      .data as Entity.Status;
    assert.equal(reply.in_reply_to_id, posted.id);
    const context = await e.getStatusContext(posted.id);
    assert.deepEqual(
      context.data.descendants.map((s) => s.id),
      [reply.id],
    );
    await e.editStatus(posted.id, { status: 'Edited by megalodon' });
    const edit = await dots.until(
      ([n, s]) => n === 'status_update' && (s as Entity.Status).id === posted.id,
      'status_update',
    );
    assert.match((edit[1] as Entity.Status).content, /Edited by megalodon/);
  });

  it('pages the timelines to their end by their Link headers', async () => {
    for (let i = 0; i < 4; i++) await e.postStatus(`mega page ${i}`);
    const pageAll = async (
      fetchPage: (maxId?: string) => Promise<{ data: { id: string }[]; headers: unknown }>,
    ) => {
      const ids: string[] = [];
      let maxId: string | undefined;
      for (;;) {
        const res = await fetchPage(maxId);
        ids.push(...res.data.map((s) => s.id));
        const link = (res.headers as Record<string, string | undefined>).link ?? '';
        const next = /<([^>]+)>;\s*rel="next"/.exec(link)?.[1];
        if (!next) break;
        maxId = new URL(next).searchParams.get('max_id') ?? undefined;
        assert.ok(maxId, next);
      }
      assert.equal(new Set(ids).size, ids.length);
      return ids;
    };
    const elisPosts = await pageAll((max_id) =>
      e.getAccountStatuses(eli.id, { limit: 2, ...(max_id && { max_id }) }),
    );
    assert.equal(elisPosts.length, 5);
    await waitFor(async () => {
      const ids = await pageAll((max_id) =>
        d.getHomeTimeline({ limit: 2, ...(max_id && { max_id }) }),
      );
      return elisPosts.every((id) => ids.includes(id));
    }, "every one of eli's posts on dot's home timeline");
    const pub = await pageAll((max_id) =>
      d.getPublicTimeline({ limit: 2, ...(max_id && { max_id }) }),
    );
    assert.ok(elisPosts.every((id) => pub.includes(id)));
  });

  it('notifications, markers, a direct message, a deletion', async () => {
    const notes = await e.getNotifications();
    assert.ok(notes.data.length >= 2);
    await e.dismissNotification(notes.data[0]!.id);
    assert.ok(!(await e.getNotifications()).data.some((n) => n.id === notes.data[0]!.id));
    await e.dismissNotifications();
    assert.deepEqual((await e.getNotifications()).data, []);

    const [newest] = (await d.getHomeTimeline({ limit: 1 })).data;
    await d.saveMarkers({ home: { last_read_id: newest!.id } });
    const markers = (await d.getMarkers(['home'])).data as Entity.Marker;
    assert.equal(markers.home?.last_read_id, newest!.id);

    const dm = (await e.postStatus(`@${dot.username} psst`, { visibility: 'direct' }))
      .data as Entity.Status;
    await dots.until(
      ([n, c]) => n === 'conversation' && (c as Entity.Conversation).last_status?.id === dm.id,
      'conversation',
    );
    const conversations = await d.getConversationTimeline();
    assert.equal(conversations.data[0]?.last_status?.id, dm.id);

    await e.deleteStatus(posted.id);
    await dots.until(([n, id]) => n === 'delete' && id === posted.id, 'delete');
  });

  it('revokes the token', async () => {
    await generator('mastodon', stack.url).revokeToken(app.client_id, app.client_secret, dToken);
    for (let i = 0; i < 4; i++) await assert.rejects(d.verifyAccountCredentials());
    assert.equal((await e.verifyAccountCredentials()).data.id, eli.id);
  });
});
