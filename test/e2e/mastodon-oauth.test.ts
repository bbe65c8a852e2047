/**
 * Mastodon client libraries log in to a real kith process: masto 8 and megalodon 10 register
 * an app, the user signs in on /oauth/authorize as a browser would (PKCE S256, cookies, CSRF
 * field, redirect), the code becomes a token, the token works on the Mastodon app routes and on
 * kith's own API, the instance document reads through the library, and a revoked token is
 * refused at once. Embedded backends, or Postgres + Redis + RabbitMQ when they are set.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOAuthAPIClient, createRestAPIClient, MastoHttpError } from 'masto';
import generator from 'megalodon';
import { startKith, type KithProcess } from '../support/processes.ts';
import { authorizeInBrowser, Browser, fetchTransport, pkcePair } from '../support/oauth.ts';
import { signUpOn, type ServerUser } from '../support/api.ts';
import { newUser } from '../support/factories.ts';
import { createTestDatabase, postgresUrl } from '../support/test-databases.ts';
import {
  amqpUrl,
  CONSUMER_GROUPS,
  deleteAmqpTopology,
  redisUrl,
  testPrefix,
} from '../support/services.ts';

const REDIRECT = 'http://127.0.0.1:1/callback';
const REAL = Boolean(postgresUrl() && redisUrl() && amqpUrl());
const AMQP_PREFIX = `${testPrefix}.mastodon-oauth`;

let kith: KithProcess;
let user: ServerUser & { password: string };
let dropDatabase = async () => {};

before(async () => {
  let env: Record<string, string> = {};
  if (REAL) {
    const database = await createTestDatabase();
    dropDatabase = () => database.drop();
    env = {
      DATABASE_URL: database.databaseUrl!,
      REDIS_URL: redisUrl()!,
      REDIS_PREFIX: `${testPrefix}:mastodon-oauth:`,
      AMQP_URL: amqpUrl()!,
      AMQP_PREFIX,
    };
  }
  kith = await startKith('serve', env);
  // signUpOn gives the factory's password to everyone: read it back from the factory.
  const signedUp = await signUpOn(kith.url, 'masto');
  user = { ...signedUp, password: newUser().password };
});

after(async () => {
  kith?.child.kill('SIGTERM');
  await kith?.exited;
  await dropDatabase();
  if (REAL) await deleteAmqpTopology(amqpUrl()!, AMQP_PREFIX, CONSUMER_GROUPS);
});

describe('masto 8', () => {
  it('registers, logs in with PKCE through the browser form, uses and revokes the token', async () => {
    const anonymous = createRestAPIClient({ url: kith.url });
    const registered = await anonymous.v1.apps.create({
      clientName: 'masto e2e',
      redirectUris: REDIRECT,
      scopes: 'read write follow',
    });
    assert.ok(registered.clientId && registered.clientSecret);

    const pkce = pkcePair();
    const { code, state } = await authorizeInBrowser(new Browser(fetchTransport(kith.url)), {
      clientId: registered.clientId,
      redirectUri: REDIRECT,
      scope: 'read write follow',
      state: 'masto-state',
      codeChallenge: pkce.challenge,
      login: user.username,
      password: user.password,
    });
    assert.equal(state, 'masto-state');

    const oauth = createOAuthAPIClient({ url: kith.url });
    // masto's types lack code_verifier (PKCE): it is sent as an extra parameter.
    const token = await oauth.token.create({
      grantType: 'authorization_code',
      clientId: registered.clientId,
      clientSecret: registered.clientSecret,
      redirectUri: REDIRECT,
      code,
      codeVerifier: pkce.verifier,
    } as Parameters<typeof oauth.token.create>[0]);
    assert.match(token.accessToken, /^[A-Za-z0-9_-]+$/);
    assert.equal(token.scope, 'read write follow');

    const client = createRestAPIClient({ url: kith.url, accessToken: token.accessToken });
    const app = await client.v1.apps.verifyCredentials();
    assert.equal(app.name, 'masto e2e');
    const me = await fetch(`${kith.url}/api/v1/me`, {
      headers: { authorization: `Bearer ${token.accessToken}` },
    });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { id: string }).id, user.id);

    const instance = await client.v2.instance.fetch();
    assert.match(instance.version, /^4\.2\.0 \(compatible; kith /);
    assert.ok(instance.configuration.urls.streaming.startsWith('ws://'));
    assert.equal(instance.configuration.statuses.maxCharacters, 5000);

    await oauth.revoke({
      clientId: registered.clientId,
      clientSecret: registered.clientSecret,
      token: token.accessToken,
    });
    await assert.rejects(client.v1.apps.verifyCredentials(), (err: unknown) => {
      assert.ok(err instanceof MastoHttpError, String(err));
      assert.equal(err.statusCode, 401);
      return true;
    });
  });
});

describe('megalodon 10', () => {
  it('registers, exchanges the code from the browser form, reads the instance, revokes', async () => {
    const anonymous = generator('mastodon', kith.url);
    const appData = await anonymous.registerApp('megalodon e2e', {
      scopes: ['read', 'write'],
      redirect_uris: REDIRECT,
    });
    assert.equal(appData.redirect_uri, REDIRECT);
    const { code } = await authorizeInBrowser(new Browser(fetchTransport(kith.url)), {
      clientId: appData.client_id,
      redirectUri: REDIRECT,
      scope: 'read write',
      login: user.username,
      password: user.password,
    });
    const token = await anonymous.fetchAccessToken(
      appData.client_id,
      appData.client_secret,
      code,
      REDIRECT,
    );
    assert.match(token.access_token, /^[A-Za-z0-9_-]+$/);

    const client = generator('mastodon', kith.url, token.access_token);
    assert.equal((await client.verifyAppCredentials()).data.name, 'megalodon e2e');
    const instance = await client.getInstance();
    assert.ok(instance.data.urls?.streaming_api.startsWith('ws://'));

    await anonymous.revokeToken(appData.client_id, appData.client_secret, token.access_token);
    const refused = await fetch(`${kith.url}/api/v1/me`, {
      headers: { authorization: `Bearer ${token.access_token}` },
    });
    assert.equal(refused.status, 401);
  });
});
