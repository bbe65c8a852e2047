/**
 * Access and refresh tokens under attack: keys, algorithms, claims, other kinds of token, odd
 * Authorization headers, tokens in query strings and refresh-token families. The basics (tampered,
 * `alg: none`, expired, one reuse) are in src/modules/accounts/auth.test.ts.
 */
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import { EmailTokenSigner } from '../../src/modules/accounts/email-tokens.service.ts';
import { createAccount, login, type Account } from '../support/factories.ts';
import { createTestApp, TEST_JWT_SECRET } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';

const API = '/api/v1';
const secretKey = (secret: string) => new TextEncoder().encode(secret);
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

let app: App;
let ctx: Context;
let alice: Account;
before(async () => {
  ({ app, ctx } = await createTestApp());
  alice = await createAccount(app);
});

/** Claims kith signs, for `sub`, overridable; `undefined` drops a claim. */
function claims(sub: string, patch: Record<string, unknown> = {}): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  const all: Record<string, unknown> = {
    sub,
    sid: randomUUID(),
    iss: 'kith',
    aud: 'kith-api',
    iat: now,
    exp: now + 300,
    ...patch,
  };
  return Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
}

function sign(
  payload: JWTPayload,
  opts: { alg?: string; key?: Parameters<SignJWT['sign']>[0]; header?: object } = {},
) {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT', ...opts.header })
    .sign(opts.key ?? secretKey(TEST_JWT_SECRET));
}

const me = (authorization?: string) =>
  app.inject({
    method: 'GET',
    url: `${API}/me`,
    ...(authorization === undefined ? {} : { headers: { authorization } }),
  });

function assertUnauthorized(res: LightMyRequestResponse, code = 'invalid_token') {
  assertProblem(res, 401, code);
  assert.equal(res.headers['www-authenticate'], 'Bearer');
}

describe('signatures and algorithms', () => {
  it('accepts a token signed like kith signs them (the control for this suite)', async () => {
    const res = await me(`Bearer ${await sign(claims(alice.id))}`);
    assert.equal(res.statusCode, 200, res.body);
  });

  it('refuses HS256 tokens signed with any other key', async () => {
    const mailKey = createHmac('sha256', TEST_JWT_SECRET).update('kith email tokens v1').digest();
    const keys = [
      secretKey('another-secret-that-is-long-enough-0123456789'),
      secretKey(`${TEST_JWT_SECRET.slice(0, -1)}X`),
      secretKey(`${TEST_JWT_SECRET} `),
      secretKey(TEST_JWT_SECRET.slice(0, 32)),
      new Uint8Array(mailKey), // the e-mail token key is derived from the same secret
    ];
    for (const key of keys)
      assertUnauthorized(await me(`Bearer ${await sign(claims(alice.id), { key })}`));
  });

  it('refuses HS384 and HS512 tokens even when signed with the real secret', async () => {
    for (const alg of ['HS384', 'HS512']) {
      assertUnauthorized(await me(`Bearer ${await sign(claims(alice.id), { alg })}`));
    }
  });

  it('refuses asymmetric tokens, including ones that carry their own public key', async () => {
    const rsa = await generateKeyPair('RS256');
    const ec = await generateKeyPair('ES256');
    const pss = await generateKeyPair('PS256');
    const jwk = await exportJWK(rsa.publicKey);
    const tokens = [
      await sign(claims(alice.id), { alg: 'RS256', key: rsa.privateKey }),
      await sign(claims(alice.id), { alg: 'RS256', key: rsa.privateKey, header: { jwk } }),
      await sign(claims(alice.id), { alg: 'PS256', key: pss.privateKey }),
      await sign(claims(alice.id), { alg: 'ES256', key: ec.privateKey }),
    ];
    for (const token of tokens) assertUnauthorized(await me(`Bearer ${token}`));
  });

  it('refuses unsigned tokens whatever the spelling of "none"', async () => {
    const payload = b64url(claims(alice.id));
    const real = (await sign(claims(alice.id))).split('.')[2];
    for (const alg of ['none', 'None', 'NONE', 'nOnE', '']) {
      const header = b64url({ alg, typ: 'JWT' });
      assertUnauthorized(await me(`Bearer ${header}.${payload}.`));
      assertUnauthorized(await me(`Bearer ${header}.${payload}.${real}`));
    }
  });

  it('refuses a header naming a critical extension kith does not know', async () => {
    // Signed by hand: jose will not sign a header it would itself refuse.
    const input = `${b64url({ alg: 'HS256', crit: ['x-kith'], 'x-kith': 1 })}.${b64url(claims(alice.id))}`;
    const mac = createHmac('sha256', TEST_JWT_SECRET).update(input).digest('base64url');
    assertUnauthorized(await me(`Bearer ${input}.${mac}`));
  });

  it('refuses things that are not compact JWS', async () => {
    const valid = await sign(claims(alice.id));
    const [h, p, s] = valid.split('.');
    for (const token of [
      'x',
      'a.b.c',
      `${h}.${p}`,
      `${h}.${p}.${s}.extra`,
      `${h}.${p}.${s}.x.y`, // JWE-shaped
      `${b64url('not an object')}.${p}.${s}`,
      `${Buffer.from('{"alg":').toString('base64url')}.${p}.${s}`,
      `${h}.${Buffer.from('\u0000\u0001').toString('base64url')}.${s}`,
      `${h}.${p}.${s}==`,
      `${h}.${p}.${s!.replaceAll('-', '+').replaceAll('_', '/')}+`,
    ]) {
      assertUnauthorized(await me(`Bearer ${token}`));
    }
  });
});

describe('claims', () => {
  const cases: [string, Record<string, unknown>, string?][] = [
    ['no subject', { sub: undefined }],
    ['an empty subject', { sub: '' }],
    ['a subject that is not a user id', { sub: 'admin' }],
    ['a session id that is not an id', { sid: "' OR 1=1 --" }],
    ['a numeric subject', { sub: 12345 }],
    ['no session id', { sid: undefined }],
    ['a numeric session id', { sid: 7 }],
    ['another issuer', { iss: 'evil' }],
    ['no issuer', { iss: undefined }],
    ['another audience', { aud: 'kith-admin' }],
    ['no audience', { aud: undefined }],
    ['no expiry', { exp: undefined }],
    ['an expiry that is not a number', { exp: 'tomorrow' }],
    ['a not-before in the future', { nbf: Math.floor(Date.now() / 1000) + 3600 }],
    ['an expiry in the past', { exp: Math.floor(Date.now() / 1000) - 3600 }, 'token_expired'],
  ];
  for (const [name, patch, code] of cases) {
    it(`refuses a correctly signed token with ${name}`, async () => {
      assertUnauthorized(await me(`Bearer ${await sign(claims(alice.id, patch))}`), code);
    });
  }

  it('refuses a valid token whose user does not exist, on every kind of route (never a 5xx)', async () => {
    const ghost = `Bearer ${await sign(claims(randomUUID()))}`;
    const calls: [string, string, object?][] = [
      ['GET', '/me'],
      ['PATCH', '/me', { bio: 'boo' }],
      ['POST', '/posts', { text: 'from beyond' }],
      ['GET', '/feed'],
      ['GET', '/notifications'],
      ['POST', '/conversations', { username: alice.username }],
      ['POST', `/users/${alice.username}/follow`],
      ['POST', `/users/${alice.username}/friend-request`],
    ];
    for (const [method, url, payload] of calls) {
      const res = await app.inject({
        method: method as 'GET',
        url: `${API}${url}`,
        headers: { authorization: ghost },
        ...(payload ? { payload } : {}),
      });
      assert.ok(res.statusCode < 500, `${method} ${url}: ${res.statusCode} ${res.body}`);
      assertUnauthorized(res);
    }
  });

  it('refuses the token of a user deleted since it was issued', async () => {
    const gone = await createAccount(app);
    await ctx.database.db.deleteFrom('users').where('id', '=', gone.id).execute();
    assertUnauthorized(await me(gone.auth.authorization));
    const post = await app.inject({
      method: 'POST',
      url: `${API}/posts`,
      headers: gone.auth,
      payload: { text: 'ghost post' },
    });
    assertUnauthorized(post);
  });
});

describe('one kind of token where another is expected', () => {
  let verifyToken: string;
  before(async () => {
    const row = await ctx.database.db
      .selectFrom('email_tokens')
      .select('id')
      .where('user_id', '=', alice.id)
      .where('purpose', '=', 'verify_email')
      .executeTakeFirstOrThrow();
    verifyToken = new EmailTokenSigner(TEST_JWT_SECRET).sign(row.id, 'verify_email');
  });

  it('a refresh token or an e-mail token is not an access token', async () => {
    assertUnauthorized(await me(`Bearer ${alice.refreshToken}`));
    assertUnauthorized(await me(`Bearer ${verifyToken}`));
  });

  it('an access token or an e-mail token is not a refresh token', async () => {
    const refresh = (token: string) =>
      app.inject({ method: 'POST', url: `${API}/auth/refresh`, payload: { refresh_token: token } });
    // Access tokens are longer than any refresh token: the schema refuses them first.
    assertProblem(await refresh(alice.accessToken), 400, 'validation_failed');
    assertUnauthorized(await refresh(verifyToken), 'invalid_refresh_token');
  });

  it('an access or refresh token is not an e-mail link, and a verify link is not a reset link', async () => {
    for (const token of [alice.accessToken, alice.refreshToken]) {
      const res = await app.inject({
        method: 'POST',
        url: `${API}/auth/verify-email`,
        payload: { token },
      });
      // Access tokens are longer than any mailed token: the schema refuses them first.
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json<{ code: string }>().code, /^(link_invalid|validation_failed)$/);
    }
    const reset = await app.inject({
      method: 'POST',
      url: `${API}/auth/password-reset/confirm`,
      payload: { token: verifyToken, password: 'a-new-password-123' },
    });
    assertProblem(reset, 400, 'link_invalid');
    assert.ok(
      (await login(app, alice.username, alice.password)).access_token,
      'password unchanged',
    );
  });
});

describe('the Authorization header', () => {
  it('takes the Bearer scheme in any case, with surrounding spaces', async () => {
    for (const header of [
      `bearer ${alice.accessToken}`,
      `BEARER ${alice.accessToken}`,
      `Bearer   ${alice.accessToken}  `,
    ]) {
      assert.equal((await me(header)).statusCode, 200, header.slice(0, 12));
    }
  });

  it('refuses anything else with 401 invalid_token', async () => {
    const t = alice.accessToken;
    for (const header of [
      t, // no scheme
      'Bearer',
      'Bearer ',
      `Bearer ${t} ${t}`, // two tokens
      `Bearer ${t}, Bearer ${t}`,
      `Bearer ${t},${t}`,
      `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString('base64')}`,
      `Token ${t}`,
      `Bearer\t${t}`,
      `Bearer "${t}"`,
    ]) {
      assertUnauthorized(await me(header));
    }
  });

  it('refuses a huge token quickly', async () => {
    const huge = `Bearer ${'A'.repeat(64 * 1024)}.${'B'.repeat(64 * 1024)}.${'C'.repeat(1024)}`;
    const started = performance.now();
    assertUnauthorized(await me(huge));
    assert.ok(performance.now() - started < 1000, 'answered within a second');
  });

  it('a bad token on a route where authentication is optional is refused, not ignored', async () => {
    const post = await app.inject({
      method: 'POST',
      url: `${API}/posts`,
      headers: alice.auth,
      payload: { text: 'public post' },
    });
    const url = `${API}/posts/${post.json<{ id: string }>().id}`;
    assert.equal((await app.inject({ method: 'GET', url })).statusCode, 200);
    const bad = await app.inject({
      method: 'GET',
      url,
      headers: { authorization: 'Bearer x.y.z' },
    });
    assertUnauthorized(bad);
  });
});

describe('tokens in the query string', () => {
  it('do not authenticate ordinary routes', async () => {
    const res = await app.inject({
      method: 'GET',
      url: `${API}/me?access_token=${alice.accessToken}`,
    });
    assertUnauthorized(res, 'unauthorized');
    const token = await app.inject({
      method: 'GET',
      url: `${API}/feed?token=${alice.accessToken}`,
    });
    assertUnauthorized(token, 'unauthorized');
  });

  it('do not make a route with optional authentication see what the owner sees', async () => {
    const bob = await createAccount(app);
    const request = await app.inject({
      method: 'POST',
      url: `${API}/users/${bob.username}/friend-request`,
      headers: alice.auth,
    });
    assert.equal(request.statusCode, 201, request.body);
    const accept = await app.inject({
      method: 'POST',
      url: `${API}/friend-requests/${request.json<{ id: string }>().id}/accept`,
      headers: bob.auth,
    });
    assert.equal(accept.statusCode, 200, accept.body);
    const post = await app.inject({
      method: 'POST',
      url: `${API}/posts`,
      headers: alice.auth,
      payload: { text: 'friends only', visibility: 'friends' },
    });
    const url = `${API}/posts/${post.json<{ id: string }>().id}`;
    assert.equal((await app.inject({ method: 'GET', url, headers: bob.auth })).statusCode, 200);
    const viaQuery = await app.inject({
      method: 'GET',
      url: `${url}?access_token=${bob.accessToken}`,
    });
    assertProblem(viaQuery, 404, 'post_not_found');
  });

  it('are what the event stream takes, and are checked there like headers', async () => {
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    const bad = await fetch(`${url}${API}/stream/sse?access_token=x.y.z`);
    assert.equal(bad.status, 401);
    assert.equal(((await bad.json()) as { code: string }).code, 'invalid_token');
    const abort = new AbortController();
    const ok = await fetch(`${url}${API}/stream/sse?access_token=${alice.accessToken}`, {
      signal: abort.signal,
    });
    assert.equal(ok.status, 200);
    assert.match(String(ok.headers.get('content-type')), /^text\/event-stream/);
    abort.abort();
  });
});

describe('refresh-token families', () => {
  type SessionBody = { access_token: string; refresh_token: string };
  const refresh = (token: string) =>
    app.inject({ method: 'POST', url: `${API}/auth/refresh`, payload: { refresh_token: token } });
  const logout = (token: string) =>
    app.inject({ method: 'POST', url: `${API}/auth/logout`, payload: { refresh_token: token } });
  async function rotate(token: string): Promise<SessionBody> {
    const res = await refresh(token);
    assert.equal(res.statusCode, 200, res.body);
    return res.json<SessionBody>();
  }

  it('reusing any spent token ends the whole family, and only that family', async () => {
    const a = await createAccount(app);
    const other = await login(app, a.username, a.password);
    const second = await rotate(a.refreshToken);
    const third = await rotate(second.refresh_token);
    assertUnauthorized(await refresh(a.refreshToken), 'refresh_token_reused');
    for (const spent of [second.refresh_token, third.refresh_token]) {
      assertUnauthorized(await refresh(spent), 'refresh_token_revoked');
    }
    const live = await ctx.database.db
      .selectFrom('refresh_tokens')
      .select(['family_id', 'revoked_at'])
      .where('user_id', '=', a.id)
      .execute();
    const families = new Map<string, boolean[]>();
    for (const r of live)
      families.set(r.family_id, [...(families.get(r.family_id) ?? []), r.revoked_at !== null]);
    assert.deepEqual(
      [...families.values()].map((revoked) => revoked.every(Boolean)).sort(),
      [false, true],
      'one family fully revoked, the other untouched',
    );
    await rotate(other.refresh_token);
  });

  it('two refreshes racing with one token: one wins, then the reuse ends the session', async () => {
    const a = await createAccount(app);
    const results = await Promise.all([refresh(a.refreshToken), refresh(a.refreshToken)]);
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 401]);
    const loser = results.find((r) => r.statusCode === 401)!;
    assertUnauthorized(loser, 'refresh_token_reused');
    const winner = results.find((r) => r.statusCode === 200)!.json<SessionBody>();
    assertUnauthorized(await refresh(winner.refresh_token), 'refresh_token_revoked');
  });

  // Access tokens are verified by signature alone (no database read per request): ending a
  // session stops new ones being issued; the ones out there expire within ACCESS_TOKEN_TTL.
  it('an ended session issues no new access token; issued ones live until they expire', async () => {
    const a = await createAccount(app);
    assert.equal((await logout(a.refreshToken)).statusCode, 204);
    assertUnauthorized(await refresh(a.refreshToken), 'refresh_token_revoked');
    assert.equal((await me(a.auth.authorization)).statusCode, 200);
    const expired = await sign(claims(a.id, { exp: Math.floor(Date.now() / 1000) - 1 }));
    assertUnauthorized(await me(`Bearer ${expired}`), 'token_expired');
  });

  it('logging out with an already rotated token still ends the session', async () => {
    const a = await createAccount(app);
    const next = await rotate(a.refreshToken);
    assert.equal((await logout(a.refreshToken)).statusCode, 204);
    assertUnauthorized(await refresh(next.refresh_token), 'refresh_token_revoked');
  });

  it('logging out is idempotent and leaves other sessions alone', async () => {
    const a = await createAccount(app);
    const other = await login(app, a.username, a.password);
    assert.equal((await logout(a.refreshToken)).statusCode, 204);
    assert.equal((await logout(a.refreshToken)).statusCode, 204);
    assertUnauthorized(await refresh(a.refreshToken), 'refresh_token_revoked');
    await rotate(other.refresh_token);
  });
});
