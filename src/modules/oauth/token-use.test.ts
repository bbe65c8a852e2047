/** Using OAuth tokens: application tokens, scopes on kith's routes, revocation, metadata. */
import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { createAccount, type Account } from '../../../test/support/factories.ts';
import {
  bearer,
  registerApp,
  tokenRequest,
  userToken,
  type RegisteredApp,
} from '../../../test/support/oauth-apps.ts';

let app: App;
let alice: Account;
let client: RegisteredApp;
before(async () => {
  ({ app } = await createTestApp());
  alice = await createAccount(app);
  client = await registerApp(app);
});

const credentials = () => ({ client_id: client.client_id, client_secret: client.client_secret });

describe('application tokens (client_credentials)', () => {
  it('verify the app but are refused, clearly, by routes that act for a user', async () => {
    const res = await tokenRequest(app, { grant_type: 'client_credentials', ...credentials() });
    assert.equal(res.statusCode, 200, res.body);
    const token = res.json().access_token;
    const verified = await app.inject({
      url: '/api/v1/apps/verify_credentials',
      headers: bearer(token),
    });
    assert.equal(verified.statusCode, 200, verified.body);
    assert.equal(verified.json().name, 'Test client');
    assert.equal(verified.json().client_secret, undefined);
    const me = await app.inject({ url: '/api/v1/me', headers: bearer(token) });
    assert.equal(me.statusCode, 403);
    assert.equal(me.json().code, 'user_token_required');
  });

  it('verify_credentials refuses no token, a bad token, and a kith login token with 401 {"error"}', async () => {
    for (const headers of [{}, bearer('A'.repeat(43)), alice.auth]) {
      const res = await app.inject({ url: '/api/v1/apps/verify_credentials', headers });
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(typeof res.json().error, 'string');
    }
  });
});

describe('scopes on kith routes', () => {
  it('a read-only token reads but gets 403 insufficient_scope on a write; a write token writes', async () => {
    const reader = await userToken(app, client, alice, 'read');
    assert.equal(
      (await app.inject({ url: '/api/v1/me', headers: bearer(reader) })).statusCode,
      200,
    );
    const denied = await app.inject({
      method: 'POST',
      url: '/api/v1/posts',
      headers: bearer(reader),
      payload: { text: 'hello', visibility: 'public' },
    });
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().code, 'insufficient_scope');
    const writer = await userToken(app, client, alice, 'write');
    const posted = await app.inject({
      method: 'POST',
      url: '/api/v1/posts',
      headers: bearer(writer),
      payload: { text: 'hello', visibility: 'public' },
    });
    assert.equal(posted.statusCode, 201, posted.body);
    // A write-only token cannot read.
    assert.equal(
      (await app.inject({ url: '/api/v1/me', headers: bearer(writer) })).statusCode,
      403,
    );
  });

  it('kith login tokens keep every scope', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/posts',
      headers: alice.auth,
      payload: { text: 'own token', visibility: 'public' },
    });
    assert.equal(res.statusCode, 201);
  });
});

describe('POST /oauth/revoke', () => {
  const revoke = (body: Record<string, string>) =>
    app.inject({ method: 'POST', url: '/oauth/revoke', payload: body });

  it('revokes at once: the next request with the token is 401', async () => {
    const token = await userToken(app, client, alice);
    assert.equal((await app.inject({ url: '/api/v1/me', headers: bearer(token) })).statusCode, 200);
    const res = await revoke({ ...credentials(), token });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {});
    const after = await app.inject({ url: '/api/v1/me', headers: bearer(token) });
    assert.equal(after.statusCode, 401);
    // Revoking again, or an unknown token, is not an error (RFC 7009 §2.2).
    assert.equal((await revoke({ ...credentials(), token })).statusCode, 200);
    assert.equal((await revoke({ ...credentials(), token: 'unknown' })).statusCode, 200);
  });

  it("refuses to revoke another app's token, which keeps working", async () => {
    const token = await userToken(app, client, alice);
    const other = await registerApp(app);
    const res = await revoke({
      client_id: other.client_id,
      client_secret: other.client_secret,
      token,
    });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error, 'unauthorized_client');
    assert.equal((await app.inject({ url: '/api/v1/me', headers: bearer(token) })).statusCode, 200);
  });

  it('needs the client secret', async () => {
    const token = await userToken(app, client, alice);
    const res = await revoke({ client_id: client.client_id, client_secret: 'wrong', token });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error, 'invalid_client');
  });
});

describe('GET /.well-known/oauth-authorization-server', () => {
  it('describes the endpoints, grants, scopes and PKCE (RFC 8414)', async () => {
    const res = await app.inject({
      url: '/.well-known/oauth-authorization-server',
      headers: { host: 'kith.test' },
    });
    assert.equal(res.statusCode, 200);
    const meta = res.json<Record<string, string & string[]>>();
    assert.equal(meta.issuer, 'http://kith.test');
    assert.equal(meta.token_endpoint, 'http://kith.test/oauth/token');
    assert.equal(meta.authorization_endpoint, 'http://kith.test/oauth/authorize');
    assert.equal(meta.revocation_endpoint, 'http://kith.test/oauth/revoke');
    assert.equal(meta.app_registration_endpoint, 'http://kith.test/api/v1/apps');
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    // The password grant is off by default, so not announced.
    assert.deepEqual(meta.grant_types_supported, ['authorization_code', 'client_credentials']);
    assert.deepEqual(meta.token_endpoint_auth_methods_supported, [
      'client_secret_basic',
      'client_secret_post',
    ]);
    for (const scope of [
      'read',
      'write',
      'follow',
      'push',
      'profile',
      'read:statuses',
      'admin:read',
    ])
      assert.ok(meta.scopes_supported!.includes(scope), scope);
  });
});
