import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { LightMyRequestResponse } from 'fastify';
import type { App } from '../../http/types.ts';
import type { Context } from '../../app/context.ts';
import { createTestApp, TEST_JWT_SECRET } from '../../../test/support/harness.ts';
import { createAccount, login, newUser, uniqueUsername } from '../../../test/support/factories.ts';
import { assertProblem } from '../../../test/support/problems.ts';

const API = '/api/v1';
const ME_KEYS =
  'avatar_url bio created_at display_name dm_policy dob email email_verified follower_count following_count friend_count header_url id post_count updated_at username'.split(
    ' ',
  );

function post(app: App, path: string, payload: unknown, remoteAddress?: string) {
  return app.inject({
    method: 'POST',
    url: `${API}${path}`,
    payload: payload as object,
    ...(remoteAddress ? { remoteAddress } : {}),
  });
}

function assertInvalid(res: LightMyRequestResponse, path: string) {
  const body = assertProblem(res, 400, 'validation_failed');
  const paths = (body.errors ?? []).map((e) => e.path);
  assert.ok(paths.includes(path), `expected an error at ${path}, got ${JSON.stringify(paths)}`);
}

function assertUnauthorized(res: LightMyRequestResponse, code: string) {
  assertProblem(res, 401, code);
  assert.equal(res.headers['www-authenticate'], 'Bearer');
}

/** `YYYY-MM-DD` (UTC) of the day `years` years before today; Feb 29 falls back to Feb 28. */
function yearsAgo(years: number): string {
  const now = new Date();
  const y = now.getUTCFullYear() - years;
  let md = now.toISOString().slice(5, 10);
  if (md === '02-29' && !(y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))) md = '02-28';
  return `${y}-${md}`;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function getMe(app: App, authorization?: string) {
  return app.inject({
    method: 'GET',
    url: `${API}/me`,
    ...(authorization ? { headers: { authorization } } : {}),
  });
}

function signToken(sub: string, opts: { secret?: string; expiresAt?: number } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sid: randomUUID() })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(sub)
    .setIssuer('kith')
    .setAudience('kith-api')
    .setIssuedAt(now - 600)
    .setExpirationTime(opts.expiresAt ?? now + 300)
    .sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}

let app: App;
let ctx: Context;
before(async () => {
  ({ app, ctx } = await createTestApp());
});

describe('POST /auth/register', () => {
  it('creates the account and answers 201 with the user and a Location', async () => {
    const input = newUser({ username: uniqueUsername('Reg_OK') });
    const res = await post(app, '/auth/register', input);
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json<Record<string, unknown>>();
    const lower = input.username.toLowerCase();
    assert.notEqual(lower, input.username);
    assert.deepEqual(Object.keys(body).sort(), ME_KEYS);
    assert.equal(body.username, lower);
    assert.equal(body.display_name, lower);
    assert.equal(body.email, input.email);
    assert.equal(body.dob, input.dob);
    assert.equal(body.bio, '');
    assert.match(String(body.id), /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.location, `${API}/users/${lower}`);
    assert.doesNotMatch(res.body, /password/);
    const profile = await app.inject({ method: 'GET', url: String(res.headers.location) });
    assert.equal(profile.statusCode, 200);
  });

  it('keeps a given display name, trimmed', async () => {
    const res = await post(app, '/auth/register', newUser({ display_name: '  Ana Bé  ' }));
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.json<{ display_name: string }>().display_name, 'Ana Bé');
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ['username too short', { username: 'ab' }, '/username'],
    ['username too long', { username: 'a'.repeat(31) }, '/username'],
    ['username with a hyphen', { username: 'ana-b' }, '/username'],
    ['username with a space', { username: 'ana b' }, '/username'],
    ['username with a non-ASCII letter', { username: 'ánab' }, '/username'],
    ['username missing', { username: undefined }, '/username'],
    ['email invalid', { email: 'not-an-email' }, '/email'],
    ['email missing', { email: undefined }, '/email'],
    ['password of 7 characters', { password: 'short12' }, '/password'],
    ['password of 30 € (90 bytes)', { password: '€'.repeat(30) }, '/password'],
    ['dob not a date', { dob: 'yesterday' }, '/dob'],
    ['dob 2023-02-30', { dob: '2023-02-30' }, '/dob'],
    ['dob tomorrow', { dob: new Date(Date.now() + 86_400_000).toISOString().slice(0, 10) }, '/dob'],
    ['dob 12 years ago today', { dob: yearsAgo(12) }, '/dob'],
    ['dob before 1900', { dob: '1899-12-31' }, '/dob'],
    ['display_name blank after trimming', { display_name: '  \t ' }, '/display_name'],
    ['display_name with a control character', { display_name: 'Ana\u0007' }, '/display_name'],
    ['display_name with a zero-width space', { display_name: 'A\u200bna' }, '/display_name'],
    ['display_name over 50 characters', { display_name: 'x'.repeat(51) }, '/display_name'],
  ];
  for (const [name, patch, path] of invalid) {
    it(`rejects ${name} with 400 at ${path} and creates no user`, async () => {
      const input = { ...newUser(), ...patch };
      const res = await post(app, '/auth/register', JSON.parse(JSON.stringify(input)));
      assertInvalid(res, path);
      const username = typeof input.username === 'string' ? input.username : '';
      if (/^\w{3,30}$/.test(username)) {
        const profile = await app.inject({ method: 'GET', url: `${API}/users/${username}` });
        assert.equal(profile.statusCode, 404);
      }
    });
  }

  const valid: [string, Record<string, unknown>][] = [
    ['a 72-byte password (24 €)', { password: '€'.repeat(24) }],
    ['a 72-character ASCII password', { password: 'p'.repeat(72) }],
    ['someone exactly 13 today', { dob: yearsAgo(13) }],
    ['a dob of 1900-01-01', { dob: '1900-01-01' }],
    ['a 50-character display name', { display_name: 'd'.repeat(50) }],
  ];
  for (const [name, patch] of valid) {
    it(`accepts ${name}`, async () => {
      const input = { ...newUser(), ...patch };
      const res = await post(app, '/auth/register', input);
      assert.equal(res.statusCode, 201, res.body);
      await login(app, input.username, input.password);
    });
  }

  it('strips unknown fields instead of storing them', async () => {
    const input = newUser();
    const forgedId = randomUUID();
    const res = await post(app, '/auth/register', {
      ...input,
      id: forgedId,
      bio: 'sneaky',
      password_hash: 'x',
      is_admin: true,
    });
    assert.equal(res.statusCode, 201, res.body);
    const body = res.json<Record<string, unknown>>();
    assert.notEqual(body.id, forgedId);
    assert.equal(body.bio, '');
    assert.equal(body.is_admin, undefined);
    const session = await login(app, input.username, input.password);
    const me = await getMe(app, `Bearer ${session.access_token}`);
    assert.equal(me.json<{ bio: string }>().bio, '');
  });

  it('answers invalid JSON with 400 invalid_json', async () => {
    const res = await app.inject({
      method: 'POST',
      url: `${API}/auth/register`,
      headers: { 'content-type': 'application/json' },
      payload: '{"username": "ana",',
    });
    assertProblem(res, 400, 'invalid_json');
  });

  it('refuses a username taken in another case with 409 username_taken', async () => {
    const taken = await createAccount(app, { username: uniqueUsername('ana') });
    const input = newUser({
      username: taken.username.toUpperCase(),
      email: `${uniqueUsername('other')}@example.com`,
    });
    assertProblem(await post(app, '/auth/register', input), 409, 'username_taken');
    const other = await post(app, '/auth/login', { login: input.email, password: input.password });
    assertProblem(other, 401, 'invalid_credentials');
  });

  it('refuses an e-mail taken in another case with 409 email_taken', async () => {
    const taken = await createAccount(app);
    const input = newUser({ email: taken.email.toUpperCase() });
    const res = await post(app, '/auth/register', input);
    assertProblem(res, 409, 'email_taken');
    const profile = await app.inject({ method: 'GET', url: `${API}/users/${input.username}` });
    assertProblem(profile, 404, 'user_not_found');
  });

  it('lets exactly one of five concurrent registrations of a username win', async () => {
    const username = uniqueUsername('race');
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        post(app, '/auth/register', newUser({ username, email: `${username}.${i}@example.com` })),
      ),
    );
    const statuses = results.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409]);
    for (const r of results.filter((x) => x.statusCode === 409)) {
      assertProblem(r, 409, 'username_taken');
    }
    const count = await ctx.database.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('username', '=', username)
      .executeTakeFirstOrThrow();
    assert.equal(Number(count.n), 1);
  });
});

describe('POST /auth/login', () => {
  it('logs in by username or e-mail in any case and returns a session', async () => {
    const a = await createAccount(app, { email: `${uniqueUsername('Mixed')}@Example.COM` });
    for (const name of [
      a.username.toUpperCase(),
      a.email.toLowerCase(),
      ` ${a.email.toUpperCase()} `,
    ]) {
      const res = await post(app, '/auth/login', { login: name, password: a.password });
      assert.equal(res.statusCode, 200, `${name}: ${res.body}`);
      const body = res.json<{ token_type: string; expires_in: number; user: { id: string } }>();
      assert.equal(body.token_type, 'Bearer');
      assert.equal(body.expires_in, 900);
      assert.equal(body.user.id, a.id);
      assert.doesNotMatch(res.body, /password/);
    }
  });

  it('answers a wrong password and an unknown user identically', async () => {
    const a = await createAccount(app);
    const wrong = await post(app, '/auth/login', { login: a.username, password: 'wrong-password' });
    const unknown = await post(app, '/auth/login', {
      login: uniqueUsername('ghost'),
      password: a.password,
    });
    assertProblem(wrong, 401, 'invalid_credentials');
    assertProblem(unknown, 401, 'invalid_credentials');
    const w = wrong.json<Record<string, unknown>>();
    const u = unknown.json<Record<string, unknown>>();
    for (const key of ['type', 'title', 'detail', 'code']) assert.equal(w[key], u[key], key);
  });

  it('refuses a 72-byte password plus extra text', async () => {
    const a = await createAccount(app, { password: 'p'.repeat(72) });
    const res = await post(app, '/auth/login', { login: a.username, password: `${a.password}X` });
    assertProblem(res, 401, 'invalid_credentials');
  });
});

describe('bearer tokens', () => {
  let account: Awaited<ReturnType<typeof createAccount>>;
  before(async () => {
    account = await createAccount(app);
  });

  it('accepts the access token from login, and one signed like it', async () => {
    const res = await getMe(app, account.auth.authorization);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<{ id: string }>().id, account.id);
    const forged = await getMe(app, `Bearer ${await signToken(account.id)}`);
    assert.equal(forged.statusCode, 200, forged.body);
  });

  it('answers no token with 401 unauthorized', async () => {
    assertUnauthorized(await getMe(app), 'unauthorized');
  });

  it('answers a non-Bearer header with 401', async () => {
    assertUnauthorized(await getMe(app, 'Token abc'), 'invalid_token');
  });

  it('refuses a tampered token', async () => {
    const [h, p, s] = account.accessToken.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { sub: string };
    const otherPayload = b64url({ ...claims, sub: randomUUID() });
    assertUnauthorized(await getMe(app, `Bearer ${h}.${otherPayload}.${s}`), 'invalid_token');
    const flipped = (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    assertUnauthorized(await getMe(app, `Bearer ${h}.${p}.${flipped}`), 'invalid_token');
  });

  it('refuses a token signed with a different key', async () => {
    const token = await signToken(account.id, { secret: 'x'.repeat(32) + 'another-key' });
    assertUnauthorized(await getMe(app, `Bearer ${token}`), 'invalid_token');
  });

  it('refuses an alg:none token carrying valid claims', async () => {
    const [, payload] = account.accessToken.split('.');
    const header = b64url({ alg: 'none', typ: 'JWT' });
    assertUnauthorized(await getMe(app, `Bearer ${header}.${payload}.`), 'invalid_token');
  });

  it('answers an expired token with 401 token_expired', async () => {
    const token = await signToken(account.id, { expiresAt: Math.floor(Date.now() / 1000) - 60 });
    assertUnauthorized(await getMe(app, `Bearer ${token}`), 'token_expired');
  });
});

describe('POST /auth/refresh and /auth/logout', () => {
  type SessionBody = { access_token: string; refresh_token: string; user: { id: string } };
  const refresh = (token: string) => post(app, '/auth/refresh', { refresh_token: token });

  it('rotates the pair; reusing a spent token ends that session only', async () => {
    const a = await createAccount(app);
    const other = await login(app, a.username, a.password);
    const res = await refresh(a.refreshToken);
    assert.equal(res.statusCode, 200, res.body);
    const next = res.json<SessionBody>();
    assert.equal(next.user.id, a.id);
    assert.notEqual(next.refresh_token, a.refreshToken);
    assert.equal((await getMe(app, `Bearer ${next.access_token}`)).statusCode, 200);

    assertUnauthorized(await refresh(a.refreshToken), 'refresh_token_reused');
    assertUnauthorized(await refresh(next.refresh_token), 'refresh_token_revoked');
    const stillOk = await refresh(other.refresh_token);
    assert.equal(stillOk.statusCode, 200, stillOk.body);
  });

  it('answers an unknown refresh token with 401 invalid_refresh_token', async () => {
    assertUnauthorized(await refresh('no-such-token'), 'invalid_refresh_token');
  });

  it('answers an expired refresh token with 401 refresh_token_expired', async () => {
    const a = await createAccount(app);
    const updated = await ctx.database.db
      .updateTable('refresh_tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('token_hash', '=', sha256(a.refreshToken))
      .executeTakeFirst();
    assert.equal(Number(updated.numUpdatedRows), 1);
    assertUnauthorized(await refresh(a.refreshToken), 'refresh_token_expired');
  });

  it('logs out with 204, after which the refresh token is refused', async () => {
    const a = await createAccount(app);
    const res = await post(app, '/auth/logout', { refresh_token: a.refreshToken });
    assert.equal(res.statusCode, 204, res.body);
    assert.equal(res.body, '');
    assertUnauthorized(await refresh(a.refreshToken), 'refresh_token_revoked');
  });

  it('answers logout with an unknown token with 204', async () => {
    const res = await post(app, '/auth/logout', { refresh_token: 'no-such-token' });
    assert.equal(res.statusCode, 204, res.body);
  });
});

describe('rate limits', () => {
  function assertLimited(res: LightMyRequestResponse) {
    assertProblem(res, 429, 'rate_limited');
    assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/);
    assert.equal(res.headers['ratelimit-limit'], '3');
    assert.equal(res.headers['ratelimit-remaining'], '0');
    assert.match(String(res.headers['ratelimit-reset']), /^\d+$/);
  }

  it('limits register and login per IP', async () => {
    const { app: limited } = await createTestApp({ env: { RATE_LIMIT_AUTH_PER_IP: '3' } });
    const ip = '203.0.113.1';
    const users = [newUser(), newUser(), newUser(), newUser()];
    for (const [i, u] of users.slice(0, 3).entries()) {
      const res = await post(limited, '/auth/register', u, ip);
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers['ratelimit-remaining'], String(2 - i));
    }
    assertLimited(await post(limited, '/auth/register', users[3], ip));
    // request.ip is the key: another address is not limited.
    assert.equal((await post(limited, '/auth/register', users[3], '203.0.113.2')).statusCode, 201);

    const credentials = { login: users[0]!.username, password: users[0]!.password };
    const loginIp = '203.0.113.3';
    for (let i = 0; i < 3; i++) {
      const res = await post(limited, '/auth/login', credentials, loginIp);
      assert.equal(res.statusCode, 200, res.body);
    }
    assertLimited(await post(limited, '/auth/login', credentials, loginIp));
    assert.equal((await post(limited, '/auth/login', credentials, '203.0.113.4')).statusCode, 200);
  });

  // Both limiters are createRateLimit checks (createLimiter): unlike app.rateLimit hooks they do
  // not share @fastify/rate-limit's per-request "already ran" flag, so both count.
  it('limits login attempts per account across IPs', async () => {
    const { app: limited } = await createTestApp({ env: { RATE_LIMIT_LOGIN_PER_ACCOUNT: '2' } });
    const [a, b] = [newUser(), newUser()];
    for (const u of [a, b])
      assert.equal((await post(limited, '/auth/register', u)).statusCode, 201);
    const attempt = (u: typeof a, ip: string) =>
      post(limited, '/auth/login', { login: u.username, password: u.password }, ip);
    assert.equal((await attempt(a, '198.51.100.1')).statusCode, 200);
    assert.equal((await attempt(a, '198.51.100.2')).statusCode, 200);
    assertProblem(await attempt(a, '198.51.100.3'), 429, 'rate_limited');
    assert.equal((await attempt(b, '198.51.100.3')).statusCode, 200);
  });
});
