/**
 * Authorization of the OAuth and discovery routes. Viewers: anonymous, another user (with
 * their own app and token), a user O blocked (B, holding an OAuth token), and O. What must
 * hold: a code, token or sign-in of O is usable by O's app only; another user's sign-in never
 * yields O's code; an OAuth token obeys the same block rules as kith's own tokens; the public
 * documents ignore any Authorization header.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertAreaCovered } from '../support/authorization-scope.ts';
import { createAccount, uniqueUsername } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import { authorizeInBrowser, authorizePath, Browser, injectTransport } from '../support/oauth.ts';
import {
  bearer,
  grantCode,
  REDIRECT,
  registerApp,
  tokenRequest,
  userToken,
} from '../support/oauth-apps.ts';

const { app } = await createTestApp({ env: { OAUTH_PASSWORD_GRANT: 'true' } });
// O's password is O's alone (the factory gives everyone else the same one).
const O = await createAccount(app, {
  username: uniqueUsername('owner'),
  password: 'owner-only-passphrase-42',
});
const other = await createAccount(app, { username: uniqueUsername('other') });
const B = await createAccount(app, { username: uniqueUsername('b') });
const block = await app.inject({
  method: 'POST',
  url: `/api/v1/users/${B.username}/block`,
  headers: O.auth,
});
assert.equal(block.statusCode, 200);
const oApp = await registerApp(app, { client_name: 'O app' });
const otherApp = await registerApp(app, { client_name: 'Other app' });
const creds = (c: typeof oApp) => ({ client_id: c.client_id, client_secret: c.client_secret });

const CASES: Record<string, () => Promise<void>> = {
  'POST /api/v1/apps': async () => {
    // Open to anyone, and a bearer token (even a bad one) changes nothing.
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/apps',
      headers: bearer('A'.repeat(43)),
      payload: { client_name: 'anon', redirect_uris: REDIRECT },
    });
    assert.equal(res.statusCode, 200);
  },
  'GET /api/v1/apps/verify_credentials': async () => {
    assert.equal((await app.inject({ url: '/api/v1/apps/verify_credentials' })).statusCode, 401);
    // Another app's token shows that app, never O's.
    const theirs = await userToken(app, otherApp, other);
    const res = await app.inject({
      url: '/api/v1/apps/verify_credentials',
      headers: bearer(theirs),
    });
    assert.equal(res.json().name, 'Other app');
  },
  'GET /oauth/authorize': async () => {
    // Anonymous: a login form. Signed in as another user: consent names that user, not O.
    const b = new Browser(injectTransport(app));
    await authorizeInBrowser(b, {
      clientId: oApp.client_id,
      redirectUri: REDIRECT,
      login: other.username,
      password: other.password,
    });
    const page = await b.get(authorizePath({ clientId: oApp.client_id, redirectUri: REDIRECT }));
    assert.match(page.text, new RegExp(`@${other.username}`));
    assert.doesNotMatch(page.text, new RegExp(`@${O.username}`));
  },
  'POST /oauth/authorize': async () => {
    // Another user's sign-in yields a code for that user: the token reads their account.
    const theirs = await userToken(app, oApp, other);
    const me = await app.inject({ url: '/api/v1/me', headers: bearer(theirs) });
    assert.equal(me.json().id, other.id);
    // No form is accepted without the browser's CSRF token.
    const res = await app.inject({
      method: 'POST',
      url: '/oauth/authorize',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `client_id=${oApp.client_id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&login=${O.username}&password=${encodeURIComponent(O.password)}`,
    });
    assert.equal(res.statusCode, 403);
  },
  'POST /oauth/token': async () => {
    // O's code is useless to another app, and another user's password is no grant for O.
    const { code, verifier } = await grantCode(app, oApp, O);
    const stolen = await tokenRequest(app, {
      grant_type: 'authorization_code',
      ...creds(otherApp),
      code,
      code_verifier: verifier!,
    });
    assert.equal(stolen.json().error, 'invalid_grant');
    const guessed = await tokenRequest(app, {
      grant_type: 'password',
      ...creds(otherApp),
      username: O.username,
      password: other.password,
    });
    assert.equal(guessed.json().error, 'invalid_grant');
    const anonymous = await tokenRequest(app, { grant_type: 'client_credentials' });
    assert.equal(anonymous.statusCode, 401);
  },
  'POST /oauth/revoke': async () => {
    const token = await userToken(app, oApp, O);
    const byOther = await app.inject({
      method: 'POST',
      url: '/oauth/revoke',
      payload: { ...creds(otherApp), token },
    });
    assert.equal(byOther.statusCode, 403);
    const anon = await app.inject({ method: 'POST', url: '/oauth/revoke', payload: { token } });
    assert.equal(anon.statusCode, 401);
    assert.equal((await app.inject({ url: '/api/v1/me', headers: bearer(token) })).statusCode, 200);
  },
  'GET /.well-known/oauth-authorization-server': () =>
    publicDocument('/.well-known/oauth-authorization-server'),
  'GET /.well-known/nodeinfo': () => publicDocument('/.well-known/nodeinfo'),
  'GET /nodeinfo/2.0': () => publicDocument('/nodeinfo/2.0'),
  'GET /api/v1/instance': () => publicDocument('/api/v1/instance'),
  'GET /api/v2/instance': () => publicDocument('/api/v2/instance'),
};

async function publicDocument(url: string) {
  for (const headers of [{}, bearer('A'.repeat(43)), O.auth]) {
    const res = await app.inject({ url, headers });
    assert.equal(res.statusCode, 200, `${url}: ${res.body}`);
  }
}

describe('OAuth and discovery routes: authorization', () => {
  for (const [route, check] of Object.entries(CASES)) it(route, check);

  it("an OAuth token of a user O blocked sees O as kith's own token does: not at all", async () => {
    const token = await userToken(app, otherApp, B);
    const viaOAuth = await app.inject({
      url: `/api/v1/users/${O.username}`,
      headers: bearer(token),
    });
    const viaKith = await app.inject({ url: `/api/v1/users/${O.username}`, headers: B.auth });
    assert.equal(viaKith.statusCode, 404);
    assert.equal(viaOAuth.statusCode, viaKith.statusCode);
  });

  it('covers every OAuth and discovery route', () => {
    assertAreaCovered(app, 'oauth', Object.keys(CASES));
  });
});
