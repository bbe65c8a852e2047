import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import type { Context } from '../../app/context.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { createAccount } from '../../../test/support/factories.ts';
import { KITH_VERSION } from './instance.service.ts';

let app: App;
let ctx: Context;
before(async () => {
  ({ app, ctx } = await createTestApp());
  const alice = await createAccount(app);
  await createAccount(app);
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/posts',
    headers: alice.auth,
    payload: { text: 'hello', visibility: 'public' },
  });
  assert.equal(res.statusCode, 201);
});

const get = async (url: string) => {
  const res = await app.inject({ url, headers: { host: 'kith.test' } });
  assert.equal(res.statusCode, 200, res.body);
  assert.match(res.headers['content-type'] as string, /^application\/json/);
  // Deep JSON read field by field: typing every document here would only restate the routes.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-return
  return res.json();
};

describe('discovery', () => {
  it('GET /api/v2/instance has what clients read: streaming URL, limits, version, api_versions', async () => {
    const v2 = await get('/api/v2/instance');
    assert.equal(v2.domain, 'kith.test');
    assert.equal(v2.version, `4.2.0 (compatible; kith ${KITH_VERSION})`);
    assert.equal(v2.configuration.urls.streaming, 'ws://kith.test');
    assert.equal(v2.configuration.statuses.max_characters, 5000);
    assert.equal(v2.configuration.statuses.characters_reserved_per_url, 23);
    assert.deepEqual(v2.configuration.translation, { enabled: false });
    assert.equal(typeof v2.configuration.polls.max_options, 'number');
    assert.equal(typeof v2.configuration.media_attachments.image_size_limit, 'number');
    assert.deepEqual(v2.api_versions, { mastodon: 1, kith: 1 });
    assert.equal(v2.usage.users.active_month, 2);
    assert.equal(typeof v2.thumbnail.url, 'string');
    assert.equal(v2.registrations.enabled, true);
    assert.deepEqual(v2.rules, []);
    assert.equal(typeof v2.contact.email, 'string');
    assert.equal(typeof v2.source_url, 'string');
  });

  it('GET /api/v1/instance has the v1 shape megalodon reads (urls.streaming_api, stats)', async () => {
    const v1 = await get('/api/v1/instance');
    assert.equal(v1.uri, 'kith.test');
    assert.equal(v1.urls.streaming_api, 'ws://kith.test');
    assert.deepEqual(v1.stats, { user_count: 2, status_count: 1, domain_count: 0 });
    assert.equal(v1.registrations, true);
    assert.equal(v1.configuration.statuses.max_characters, 5000);
  });

  it('NodeInfo: the well-known link, then software, usage and registrations', async () => {
    const links = await get('/.well-known/nodeinfo');
    assert.deepEqual(links.links, [
      {
        rel: 'http://nodeinfo.diaspora.software/ns/schema/2.0',
        href: 'http://kith.test/nodeinfo/2.0',
      },
    ]);
    const info = await get('/nodeinfo/2.0');
    assert.deepEqual(info.software, { name: 'kith', version: KITH_VERSION });
    assert.deepEqual(info.protocols, []);
    assert.deepEqual(info.usage, {
      users: { total: 2, activeMonth: 2, activeHalfyear: 2 },
      localPosts: 1,
    });
    assert.equal(info.openRegistrations, true);
    assert.equal(info.metadata.upstream.name, 'mastodon');
  });

  it('counts once a minute, not per request', async () => {
    await createAccount(app);
    // Still the cached count: the third account shows up within a minute, not at once.
    assert.equal((await get('/nodeinfo/2.0')).usage.users.total, 2);
    const fresh = await ctx.instance.counts();
    assert.equal(fresh.users, 2);
  });
});
