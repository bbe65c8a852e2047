/**
 * The public and tag timelines, search, tags and the public streams driven by the client
 * libraries apps use: masto.js (its paginator following Link headers to the end, `v2.search`,
 * tags, `public` and `hashtag` streams) and megalodon (`getPublicTimeline`, `getTagTimeline`,
 * `search`), with OAuth tokens, so kith's own API never answers them.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createRestAPIClient, createStreamingAPIClient, type mastodon } from 'masto';
import generator from 'megalodon';
import WebSocket from 'ws';
import type { Account } from '../../../test/support/factories.ts';
import { api } from '../../../test/support/api.ts';
import { createTestAppWithWorker } from '../../../test/support/harness.ts';
import { registerApp, userToken } from '../../../test/support/oauth-apps.ts';
import { waitFor } from '../../../test/support/wait.ts';

const { app, ctx, worker } = await createTestAppWithWorker('mastodon-discovery-clients');
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
const closers: (() => void)[] = [];
after(async () => {
  for (const close of closers) close();
  await worker.stop();
});

const { users } = api(app);
const client = await registerApp(app);
async function signIn(who: Account) {
  const token = await userToken(app, client, who, 'read write follow');
  return { token, rest: createRestAPIClient({ url: base, accessToken: token }) };
}
const tag = `lib${Date.now().toString(36)}`;

describe('Mastodon discovery with client libraries', () => {
  it('masto.js pages the public timeline to its end and searches', async () => {
    const { ana, ben } = await users('ana', 'ben');
    const [a, b] = await Promise.all([signIn(ana), signIn(ben)]);
    const mine: string[] = [];
    for (let i = 0; i < 5; i++)
      mine.push((await a.rest.v1.statuses.create({ status: `page ${i} #${tag}` })).id);
    await a.rest.v1.statuses.create({ status: `hidden #${tag}`, visibility: 'private' });

    const seen: string[] = [];
    let pages = 0;
    for await (const page of b.rest.v1.timelines.public.list({ limit: 2 })) {
      seen.push(...page.map((s) => s.id));
      pages++;
    }
    assert.equal(new Set(seen).size, seen.length, 'no repeat');
    assert.deepEqual(
      seen.filter((id) => mine.includes(id)),
      [...mine].reverse(),
    );
    assert.ok(pages >= 3);

    const tagged = await b.rest.v1.timelines.tag.$select(tag).list({ limit: 40 });
    assert.deepEqual(
      tagged.map((s) => s.id),
      [...mine].reverse(),
    );

    const found = await b.rest.v2.search.list({ q: `page #${tag}`, type: 'statuses' });
    assert.ok(found.statuses.length > 0);
    const people = await b.rest.v2.search.list({ q: ana.username, type: 'accounts' });
    assert.equal(people.accounts[0]?.id, ana.id);

    const followed = await b.rest.v1.tags.$select(tag).follow();
    assert.equal(followed.following, true);
    assert.equal(followed.history?.length, 7);
    const list = await b.rest.v1.followedTags.list();
    assert.ok(list.some((t) => t.name === tag));
    assert.equal((await b.rest.v1.tags.$select(tag).unfollow()).following, false);
    const trends = await b.rest.v1.trends.tags.list({ limit: 20 });
    assert.ok(trends.some((t) => t.name === tag));
  });

  it('megalodon reads the public and tag timelines and searches', async () => {
    const { cleo } = await users('cleo');
    const c = await signIn(cleo);
    const mega = generator('mastodon', base, c.token);
    const status = await c.rest.v1.statuses.create({ status: `megalodon #${tag}` });
    const pub = await mega.getPublicTimeline({ limit: 40 });
    assert.ok(pub.data.some((s) => s.id === status.id));
    const tagged = await mega.getTagTimeline(tag, { limit: 1 });
    assert.deepEqual(
      tagged.data.map((s) => s.id),
      [status.id],
    );
    const found = await mega.search(cleo.username, { type: 'accounts' });
    assert.equal(found.data.accounts[0]?.id, cleo.id);
    const tags = await mega.search(tag, { type: 'hashtags' });
    assert.equal(tags.data.hashtags[0]?.name, tag);
  });

  it('masto.js gets public and hashtag stream updates', async () => {
    const { dee, eve } = await users('dee', 'eve');
    const [d, e] = await Promise.all([signIn(dee), signIn(eve)]);
    const instance = await d.rest.v2.instance.fetch();
    const stream = createStreamingAPIClient({
      streamingApiUrl: instance.configuration.urls.streaming,
      accessToken: d.token,
      implementation: WebSocket,
      retry: false,
    });
    closers.push(() => stream.close());
    const events: mastodon.streaming.Event[] = [];
    const collect = async (sub: AsyncIterable<mastodon.streaming.Event>) => {
      try {
        for await (const event of sub) events.push(event);
      } catch {
        // The client was closed.
      }
    };
    const gauge = async (name: string) =>
      (await ctx.metrics.mastodonStreamSubscriptions.get()).values.find(
        (v) => v.labels.stream === name,
      )?.value ?? 0;
    const before = [await gauge('public'), await gauge('hashtag')];
    void collect(stream.public.subscribe());
    void collect(stream.hashtag.subscribe({ tag }));
    await waitFor(
      async () =>
        (await gauge('public')) === before[0]! + 1 && (await gauge('hashtag')) === before[1]! + 1,
      'both subscriptions',
    );
    const status = await e.rest.v1.statuses.create({ status: `live #${tag}` });
    const streams = await waitFor(() => {
      const got = events.filter((x) => x.event === 'update' && x.payload.id === status.id);
      return got.length === 2 && got.map((x) => x.stream[0]).sort();
    }, 'update on both streams');
    assert.deepEqual(streams, ['hashtag', 'public']);
  });
});
