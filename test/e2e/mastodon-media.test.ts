/**
 * A real Mastodon client library (masto 8) over HTTP against kith listening on a port: it logs
 * in through the OAuth browser form, uploads a picture with `v2.media.create`, posts a status
 * with it, reads it back with its `media_attachments`, and sets an avatar with
 * `v1.accounts.updateCredentials` (the old one is removed after the commit). Embedded backends,
 * or Postgres + Redis + RabbitMQ when they are set (the harness decides).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createOAuthAPIClient, createRestAPIClient } from 'masto';
import sharp from 'sharp';
import { createAccount } from '../support/factories.ts';
import { drain } from '../support/drain.ts';
import { createTestAppWithWorker } from '../support/harness.ts';
import { filesUnder, testImage } from '../support/media.ts';
import { authorizeInBrowser, Browser, fetchTransport, pkcePair } from '../support/oauth.ts';

const REDIRECT = 'http://127.0.0.1:1/callback';
const mediaDir = mkdtempSync(join(tmpdir(), 'kith-masto-e2e-'));
after(() => rmSync(mediaDir, { recursive: true, force: true }));
const { app, ctx, worker } = await createTestAppWithWorker('mastodon-media-e2e', {
  env: { MEDIA_DIR: mediaDir },
});
after(() => worker.stop());
const base = (await app.listen({ port: 0, host: '127.0.0.1' })).replace('localhost', '127.0.0.1');
after(() => app.close());

/** A masto client holding a user token obtained the way an app gets one. */
async function signIn() {
  const user = await createAccount(app);
  const anonymous = createRestAPIClient({ url: base });
  const registered = await anonymous.v1.apps.create({
    clientName: 'masto media e2e',
    redirectUris: REDIRECT,
    scopes: 'read write',
  });
  const pkce = pkcePair();
  const { code } = await authorizeInBrowser(new Browser(fetchTransport(base)), {
    clientId: registered.clientId!,
    redirectUri: REDIRECT,
    scope: 'read write',
    state: 's',
    codeChallenge: pkce.challenge,
    login: user.username,
    password: user.password,
  });
  const token = await createOAuthAPIClient({ url: base }).token.create({
    grantType: 'authorization_code',
    clientId: registered.clientId!,
    clientSecret: registered.clientSecret!,
    redirectUri: REDIRECT,
    code,
    codeVerifier: pkce.verifier,
  } as Parameters<ReturnType<typeof createOAuthAPIClient>['token']['create']>[0]);
  return createRestAPIClient({ url: base, accessToken: token.accessToken });
}

/** The bytes behind a media URL (PUBLIC_URL is not this port: the path is what counts). */
async function fetched(url: string): Promise<Buffer> {
  const res = await fetch(base + new URL(url).pathname);
  assert.equal(res.status, 200, url);
  return Buffer.from(await res.arrayBuffer());
}
const onDisk = (url: string) =>
  filesUnder(mediaDir).includes(new URL(url).pathname.slice('/media/'.length));

describe('masto 8 with pictures', () => {
  it('uploads with v2.media.create, posts with media_ids, reads media_attachments back', async () => {
    const client = await signIn();
    const file = new Blob([await testImage('png', 64, 48)], { type: 'image/png' });
    const media = await client.v2.media.create({
      file,
      description: 'a test card',
      focus: '0.2,0.4',
    });
    assert.equal(media.type, 'image');
    assert.equal(media.description, 'a test card');
    const status = await client.v1.statuses.create({ status: 'look', mediaIds: [media.id] });
    assert.deepEqual(
      status.mediaAttachments.map((a) => a.id),
      [media.id],
    );
    const again = await client.v1.statuses.$select(status.id).fetch();
    const [attachment] = again.mediaAttachments;
    assert.equal(attachment?.url, media.url);
    assert.equal(attachment?.description, 'a test card');
    const meta = await sharp(await fetched(attachment.url!)).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 48]);
    const mine = await client.v1.accounts
      .$select(status.account.id)
      .statuses.list({ onlyMedia: true });
    assert.deepEqual(
      mine.map((s) => s.id),
      [status.id],
    );
  });

  it('sets an avatar with v1.accounts.updateCredentials; replacing it removes the old file', async () => {
    const client = await signIn();
    const before = await client.v1.accounts.verifyCredentials();
    assert.match(before.avatar, /\/avatars\/original\/missing\.png$/);
    const picture = async () =>
      new Blob([await testImage('jpeg', 300, 200)], { type: 'image/jpeg' });
    const first = await client.v1.accounts.updateCredentials({ avatar: await picture() });
    assert.notEqual(first.avatar, before.avatar);
    const meta = await sharp(await fetched(first.avatar)).metadata();
    assert.deepEqual([meta.width, meta.height], [400, 400]);
    const second = await client.v1.accounts.updateCredentials({ avatar: await picture() });
    assert.notEqual(second.avatar, first.avatar);
    await drain(ctx);
    assert.equal(onDisk(first.avatar), false, 'the replaced avatar is gone');
    assert.equal(onDisk(second.avatar), true);
    const seen = await client.v1.accounts.$select(second.id).fetch();
    assert.equal(seen.avatarStatic, second.avatar);
  });
});
