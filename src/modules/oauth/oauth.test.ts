import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import type { Context } from '../../app/context.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { createAccount, type Account } from '../../../test/support/factories.ts';
import {
  bearer,
  grantCode,
  OOB,
  REDIRECT,
  registerApp,
  tokenRequest,
  type RegisteredApp,
} from '../../../test/support/oauth-apps.ts';
import { hashSecret } from './oauth-tokens.ts';

let app: App;
let ctx: Context;
let alice: Account;
let client: RegisteredApp;
before(async () => {
  ({ app, ctx } = await createTestApp({ env: { OAUTH_PASSWORD_GRANT: 'true' } }));
  alice = await createAccount(app);
  client = await registerApp(app);
});

const credentials = () => ({ client_id: client.client_id, client_secret: client.client_secret });
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

describe('POST /api/v1/apps', () => {
  it('registers an app and answers the CredentialApplication, storing the secret hashed', async () => {
    assert.deepEqual(client.scopes, ['read', 'write', 'follow']);
    assert.deepEqual(client.redirect_uris, [REDIRECT, OOB]);
    assert.equal(client.redirect_uri, `${REDIRECT}\n${OOB}`);
    assert.match(client.client_id, TOKEN);
    assert.match(client.client_secret, TOKEN);
    const row = await ctx.database.db
      .selectFrom('oauth_apps')
      .selectAll()
      .where('id', '=', client.id)
      .executeTakeFirstOrThrow();
    assert.equal(row.client_secret_hash, hashSecret(client.client_secret));
    assert.ok(!JSON.stringify(row).includes(client.client_secret));
  });

  it('takes form bodies with Rails array keys, and defaults the scope to read', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/apps',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `client_name=Phanpy&redirect_uris[]=${encodeURIComponent(REDIRECT)}&redirect_uris[]=${encodeURIComponent(OOB)}&website=https%3A%2F%2Fphanpy.social`,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    const body = res.json();
    assert.deepEqual(body.redirect_uris, [REDIRECT, OOB]);
    assert.deepEqual(body.scopes, ['read']);
    assert.equal(body.website, 'https://phanpy.social');
  });

  for (const [what, body, message] of [
    ['an unknown scope', { scopes: 'read telepathy' }, /telepathy/],
    ['a relative redirect URI', { redirect_uris: '/callback' }, /absolute/],
    ['a javascript: redirect URI', { redirect_uris: 'javascript:alert(1)' }, /absolute/],
    ['a redirect URI with a fragment', { redirect_uris: `${REDIRECT}#x` }, /fragment/],
    ['no name', { client_name: '   ' }, /name/],
    ['no redirect URI', { redirect_uris: '' }, /blank/],
  ] as const) {
    it(`refuses ${what} with 422 {"error"} and stores nothing`, async () => {
      const before = await ctx.database.db.selectFrom('oauth_apps').select('id').execute();
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/apps',
        payload: { client_name: 'x', redirect_uris: REDIRECT, ...body },
      });
      assert.equal(res.statusCode, 422, res.body);
      assert.match(res.headers['content-type'] as string, /^application\/json/);
      assert.match(res.json().error, message);
      const after = await ctx.database.db.selectFrom('oauth_apps').select('id').execute();
      assert.equal(after.length, before.length);
    });
  }

  it('answers a body of the wrong type with 422 {"error"}, not problem+json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/apps',
      payload: { client_name: 3 },
    });
    assert.equal(res.statusCode, 422);
    assert.match(res.json().error, /^Validation failed/);
  });
});

describe('POST /oauth/token', () => {
  it('exchanges a code granted with PKCE S256 for a scoped, opaque token stored hashed', async () => {
    const { code, verifier } = await grantCode(app, client, alice, { scope: 'read write' });
    const res = await tokenRequest(app, {
      grant_type: 'authorization_code',
      ...credentials(),
      redirect_uri: REDIRECT,
      code,
      code_verifier: verifier!,
    });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = res.json();
    assert.deepEqual(Object.keys(body).sort(), [
      'access_token',
      'created_at',
      'scope',
      'token_type',
    ]);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.scope, 'read write');
    assert.match(body.access_token, TOKEN);
    assert.ok(Math.abs(body.created_at - Date.now() / 1000) < 60);
    const rows = await ctx.database.db
      .selectFrom('oauth_tokens')
      .select('token_hash')
      .where('token_hash', '=', hashSecret(body.access_token))
      .execute();
    assert.equal(rows.length, 1);
    const me = await app.inject({ url: '/api/v1/me', headers: bearer(body.access_token) });
    assert.equal(me.statusCode, 200, me.body);
    assert.equal(me.json().id, alice.id);
  });

  it('exchanges a code granted without PKCE, with the client authenticated by HTTP Basic and a form body', async () => {
    const { code } = await grantCode(app, client, alice, { pkce: false });
    const basic = Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64');
    const res = await tokenRequest(
      app,
      { grant_type: 'authorization_code', redirect_uri: REDIRECT, code },
      { form: true, headers: { authorization: `Basic ${basic}` } },
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().scope, 'read');
  });

  const exchange = (code: string, extra: Record<string, string> = {}) =>
    tokenRequest(app, {
      grant_type: 'authorization_code',
      ...credentials(),
      redirect_uri: REDIRECT,
      code,
      ...extra,
    });
  const assertOAuthError = (
    res: { statusCode: number; json(): unknown },
    status: number,
    error: string,
  ) => {
    assert.equal(res.statusCode, status);
    const body = res.json() as { error: string; error_description: string };
    assert.equal(body.error, error);
    assert.equal(typeof body.error_description, 'string');
  };

  it('refuses a reused code, even after a successful exchange', async () => {
    const { code, verifier } = await grantCode(app, client, alice);
    assert.equal((await exchange(code, { code_verifier: verifier! })).statusCode, 200);
    assertOAuthError(await exchange(code, { code_verifier: verifier! }), 400, 'invalid_grant');
  });

  it('refuses a wrong or missing code_verifier, and the code is spent by the attempt', async () => {
    const { code, verifier } = await grantCode(app, client, alice);
    assertOAuthError(await exchange(code, { code_verifier: 'x'.repeat(43) }), 400, 'invalid_grant');
    assertOAuthError(await exchange(code, { code_verifier: verifier! }), 400, 'invalid_grant');
    const second = await grantCode(app, client, alice);
    assertOAuthError(await exchange(second.code), 400, 'invalid_grant');
  });

  it('accepts the plain PKCE method as Mastodon does', async () => {
    const verifier = 'v'.repeat(50);
    const authorization = await ctx.oauth.checkAuthorization({
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      response_type: 'code',
      code_challenge: verifier,
      code_challenge_method: 'plain',
    });
    const code = await ctx.oauth.issueCode(authorization, alice.id);
    assertOAuthError(await exchange(code, { code_verifier: 'w'.repeat(50) }), 400, 'invalid_grant');
    const again = await ctx.oauth.issueCode(authorization, alice.id);
    assert.equal((await exchange(again, { code_verifier: verifier })).statusCode, 200);
  });

  it('refuses an expired code', async () => {
    const { code, verifier } = await grantCode(app, client, alice);
    await ctx.database.db
      .updateTable('oauth_codes')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('code_hash', '=', hashSecret(code))
      .execute();
    assertOAuthError(await exchange(code, { code_verifier: verifier! }), 400, 'invalid_grant');
  });

  it('refuses a code presented with another redirect_uri or by another app', async () => {
    const { code, verifier } = await grantCode(app, client, alice);
    assertOAuthError(
      await exchange(code, { code_verifier: verifier!, redirect_uri: OOB }),
      400,
      'invalid_grant',
    );
    const other = await registerApp(app);
    const stolen = await grantCode(app, client, alice);
    const res = await tokenRequest(app, {
      grant_type: 'authorization_code',
      client_id: other.client_id,
      client_secret: other.client_secret,
      code: stolen.code,
      code_verifier: stolen.verifier!,
    });
    assertOAuthError(res, 400, 'invalid_grant');
  });

  it('refuses a wrong client secret or an unknown client with 401 invalid_client', async () => {
    const { code, verifier } = await grantCode(app, client, alice);
    const bad = await tokenRequest(app, {
      grant_type: 'authorization_code',
      client_id: client.client_id,
      client_secret: 'not-the-secret',
      code,
      code_verifier: verifier!,
    });
    assertOAuthError(bad, 401, 'invalid_client');
    const none = await tokenRequest(app, { grant_type: 'client_credentials' });
    assertOAuthError(none, 401, 'invalid_client');
    // The failed attempt did not spend the code: the client it was issued to still can.
    assert.equal((await exchange(code, { code_verifier: verifier! })).statusCode, 200);
  });

  it('answers unknown grants, scopes beyond the app and malformed bodies per RFC 6749', async () => {
    assertOAuthError(
      await tokenRequest(app, { grant_type: 'implicit', ...credentials() }),
      400,
      'unsupported_grant_type',
    );
    assertOAuthError(
      await tokenRequest(app, {
        grant_type: 'client_credentials',
        ...credentials(),
        scope: 'push',
      }),
      400,
      'invalid_scope',
    );
    assertOAuthError(
      await tokenRequest(app, {
        grant_type: 'client_credentials',
        ...credentials(),
        scope: 'nope',
      }),
      400,
      'invalid_scope',
    );
    const res = await app.inject({
      method: 'POST',
      url: '/oauth/token',
      payload: { grant_type: 7 },
    });
    assertOAuthError(res, 400, 'invalid_request');
  });

  it('gives one token for a code exchanged many times at once', async () => {
    const { code, verifier } = await grantCode(app, client, alice);
    const results = await Promise.all(
      Array.from({ length: 8 }, () => exchange(code, { code_verifier: verifier! })),
    );
    assert.deepEqual(
      results.map((r) => r.statusCode).sort(),
      [200, 400, 400, 400, 400, 400, 400, 400],
    );
  });

  it('issues the password grant when OAUTH_PASSWORD_GRANT is on, for the right password only', async () => {
    const grant = (password: string) =>
      tokenRequest(app, {
        grant_type: 'password',
        ...credentials(),
        username: alice.username,
        password,
        scope: 'read',
      });
    assertOAuthError(await grant('wrong-password'), 400, 'invalid_grant');
    const res = await grant(alice.password);
    assert.equal(res.statusCode, 200, res.body);
    const me = await app.inject({ url: '/api/v1/me', headers: bearer(res.json().access_token) });
    assert.equal(me.json().id, alice.id);
    const meta = await app.inject({ url: '/.well-known/oauth-authorization-server' });
    assert.ok(
      meta.json<{ grant_types_supported: string[] }>().grant_types_supported.includes('password'),
    );
  });
});
