/**
 * Rate limits and lock-outs: login per account and per IP, registration, password reset and
 * direct messages; shared by API nodes through Redis. Every refusal is 429 `rate_limited` with
 * `Retry-After` and `RateLimit-*` headers.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LightMyRequestResponse as Res } from 'fastify';
import type { Env } from '../../src/config.ts';
import { createContext } from '../../src/app/context.ts';
import { buildApp } from '../../src/app/http-app.ts';
import type { App } from '../../src/http/types.ts';
import { createLogger } from '../../src/logger.ts';
import { createAccount, newUser, type Account, type NewUser } from '../support/factories.ts';
import { createTestApp, testConfig } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';
import { redisUrl, testPrefix, testRedis } from '../support/services.ts';
import { waitFor } from '../support/wait.ts';

const API = '/api/v1';

// With REDIS_URL the counters live in Redis (as in production), each app under its own prefix.
let apps = 0;
function limited(env: Env) {
  apps += 1;
  const url = redisUrl();
  const redis = url ? { REDIS_URL: url, REDIS_PREFIX: `${testPrefix}:rl${apps}:` } : {};
  return createTestApp({ env: { ...redis, ...env } });
}
before(async () => {
  if (redisUrl()) await testRedis(); // removes this file's keys afterwards
});

function assertLimited(res: Res, max: number) {
  assertProblem(res, 429, 'rate_limited');
  assert.match(String(res.headers['retry-after']), /^[1-9]\d*$/);
  assert.equal(res.headers['ratelimit-limit'], String(max));
  assert.equal(res.headers['ratelimit-remaining'], '0');
  assert.match(String(res.headers['ratelimit-reset']), /^\d+$/);
}

const post = (app: App, url: string, payload: object, ip = '127.0.0.1', headers = {}) =>
  app.inject({ method: 'POST', url: `${API}${url}`, payload, remoteAddress: ip, headers });

async function registered(app: App, overrides: Partial<NewUser> = {}): Promise<NewUser> {
  const user = newUser(overrides);
  const res = await post(app, '/auth/register', user, '192.0.2.250');
  assert.equal(res.statusCode, 201, res.body);
  return user;
}

async function conversation(app: App, from: Account, to: Account): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: `${API}/conversations`,
    headers: from.auth,
    payload: { username: to.username },
  });
  assert.equal(res.statusCode, 201, res.body);
  return res.json<{ id: string }>().id;
}

const send = (app: App, who: Account, id: string, payload: object) =>
  app.inject({
    method: 'POST',
    url: `${API}/conversations/${id}/messages`,
    headers: who.auth,
    payload,
  });

const fullwidth = (s: string) =>
  s.replace(/[!-~]/g, (c) => String.fromCodePoint(c.charCodeAt(0) + 0xfee0));

describe('login: per account', () => {
  const max = 3;

  it('locks an account after RATE_LIMIT_LOGIN_PER_ACCOUNT attempts from any mix of IPs', async () => {
    const { app } = await limited({ RATE_LIMIT_LOGIN_PER_ACCOUNT: String(max) });
    const [victim, bystander] = [await registered(app), await registered(app)];
    const guess = (ip: string) =>
      post(app, '/auth/login', { login: victim.username, password: 'not-the-password' }, ip);
    for (let i = 0; i < max; i++) {
      const res = await guess(`198.51.100.${i + 1}`);
      assertProblem(res, 401, 'invalid_credentials');
      assert.equal(res.headers['ratelimit-remaining'], String(max - i - 1));
    }
    assertLimited(await guess('198.51.100.99'), max);
    // Locked even with the right password: a guess that happens to be right is not let through.
    const right = { login: victim.username, password: victim.password };
    assertLimited(await post(app, '/auth/login', right, '203.0.113.7'), max);
    // Another account is not affected, from the same addresses.
    const other = { login: bystander.username, password: bystander.password };
    assert.equal((await post(app, '/auth/login', other, '198.51.100.1')).statusCode, 200);
  });

  it('counts the username, the e-mail and their look-alike spellings as one account', async () => {
    const { app } = await limited({ RATE_LIMIT_LOGIN_PER_ACCOUNT: String(max) });
    const victim = await registered(app);
    const spellings = [
      victim.username,
      victim.email.toUpperCase(),
      fullwidth(victim.username.toUpperCase()),
    ];
    for (const login of spellings) {
      assertProblem(
        await post(app, '/auth/login', { login, password: 'wrong-pass' }),
        401,
        'invalid_credentials',
      );
    }
    for (const login of [...spellings, ` ${victim.username} `]) {
      assertLimited(await post(app, '/auth/login', { login, password: victim.password }), max);
    }
  });

  it('counts every attempt, successful ones too: parallel guesses cannot slip past', async () => {
    const { app } = await limited({ RATE_LIMIT_LOGIN_PER_ACCOUNT: String(max) });
    const victim = await registered(app);
    const guesses = Array.from({ length: 10 }, (_, i) =>
      post(
        app,
        '/auth/login',
        { login: victim.username, password: `guess-${i}-xx` },
        `10.9.0.${i}`,
      ),
    );
    const statuses = (await Promise.all(guesses)).map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 401).length, max, statuses.join());
    assert.equal(statuses.filter((s) => s === 429).length, 10 - max, statuses.join());
  });

  it('unlocks when the window ends', async () => {
    const { app } = await limited({ RATE_LIMIT_LOGIN_PER_ACCOUNT: '1', RATE_LIMIT_WINDOW: '1' });
    const victim = await registered(app);
    const attempt = () =>
      post(app, '/auth/login', { login: victim.username, password: victim.password });
    assert.equal((await attempt()).statusCode, 200);
    const locked = await attempt();
    assertLimited(locked, 1);
    assert.equal(locked.headers['retry-after'], '1');
    await waitFor(async () => (await attempt()).statusCode === 200, 'the lock to lift', 5000);
  });
});

describe('auth routes: per IP', () => {
  const max = 4;

  it('register, login and refresh share one budget per IP; a success does not reset it', async () => {
    const { app } = await limited({ RATE_LIMIT_AUTH_PER_IP: String(max) });
    const ip = '203.0.113.10';
    const user = newUser();
    assert.equal((await post(app, '/auth/register', user, ip)).statusCode, 201);
    const wrong = { login: user.username, password: 'wrong-password' };
    assertProblem(await post(app, '/auth/login', wrong, ip), 401, 'invalid_credentials');
    const good = await post(
      app,
      '/auth/login',
      { login: user.username, password: user.password },
      ip,
    );
    assert.equal(good.statusCode, 200);
    const refresh = { refresh_token: good.json<{ refresh_token: string }>().refresh_token };
    assert.equal((await post(app, '/auth/refresh', refresh, ip)).statusCode, 200);
    for (const [url, body] of [
      ['/auth/login', { login: user.username, password: user.password }],
      ['/auth/register', newUser()],
      ['/auth/refresh', refresh],
    ] as const) {
      assertLimited(await post(app, url, body, ip), max);
    }
    const elsewhere = { login: user.username, password: user.password };
    assert.equal((await post(app, '/auth/login', elsewhere, '203.0.113.11')).statusCode, 200);
  });

  it('ignores X-Forwarded-For unless it comes from a trusted proxy', async () => {
    const env = { RATE_LIMIT_AUTH_PER_IP: '1' };
    const direct = (await limited(env)).app;
    const spoof = (n: number) => ({ 'x-forwarded-for': `198.18.0.${n}` });
    assert.equal(
      (await post(direct, '/auth/register', newUser(), '192.0.2.1', spoof(1))).statusCode,
      201,
    );
    assertLimited(await post(direct, '/auth/register', newUser(), '192.0.2.1', spoof(2)), 1);

    const proxied = (await limited({ ...env, TRUST_PROXY: '10.0.0.2' })).app;
    const viaProxy = (n: number) =>
      post(proxied, '/auth/register', newUser(), '10.0.0.2', spoof(n));
    assert.equal((await viaProxy(1)).statusCode, 201);
    assert.equal((await viaProxy(2)).statusCode, 201, 'another client behind the proxy');
    assertLimited(await viaProxy(1), 1);
    // The same header from a client that is not the proxy is not believed.
    assert.equal(
      (await post(proxied, '/auth/register', newUser(), '192.0.2.9', spoof(3))).statusCode,
      201,
    );
    assertLimited(await post(proxied, '/auth/register', newUser(), '192.0.2.9', spoof(4)), 1);
  });
});

describe('password reset', () => {
  it('mails one address at most RATE_LIMIT_MAIL times, from any IP, known or not alike', async () => {
    const { app } = await limited({ RATE_LIMIT_MAIL: '2' });
    const user = await registered(app);
    for (const email of [user.email, 'nobody-here@example.com']) {
      const answers: Res[] = [];
      const capital = email.replace(/^./, (c) => c.toUpperCase());
      for (const [i, spelling] of [email, email.toUpperCase()].entries()) {
        answers.push(
          await post(app, '/auth/password-reset', { email: spelling }, `198.51.100.${i}`),
        );
      }
      for (const res of answers) assert.equal(res.statusCode, 202, res.body);
      assertLimited(await post(app, '/auth/password-reset', { email: capital }, '198.51.100.9'), 2);
    }
    const other = await registered(app);
    assert.equal((await post(app, '/auth/password-reset', { email: other.email })).statusCode, 202);
  });

  it('takes at most RATE_LIMIT_AUTH_PER_IP requests and token guesses per IP', async () => {
    const { app } = await limited({ RATE_LIMIT_AUTH_PER_IP: '3' });
    const ip = '198.51.100.50';
    assert.equal(
      (await post(app, '/auth/password-reset', { email: 'a@example.com' }, ip)).statusCode,
      202,
    );
    const guess = {
      token: '0190f0e0-0000-7000-8000-000000000000.AAAA',
      password: 'new-password-1',
    };
    for (let i = 0; i < 2; i++) {
      assertProblem(
        await post(app, '/auth/password-reset/confirm', guess, ip),
        400,
        'link_invalid',
      );
    }
    assertLimited(await post(app, '/auth/password-reset/confirm', guess, ip), 3);
    assertLimited(await post(app, '/auth/verify-email', { token: guess.token }, ip), 3);
    assertProblem(
      await post(app, '/auth/password-reset/confirm', guess, '198.51.100.51'),
      400,
      'link_invalid',
    );
  });
});

describe('direct messages', () => {
  it('lets one sender send RATE_LIMIT_MESSAGES per window over all conversations', async () => {
    const { app } = await limited({ RATE_LIMIT_MESSAGES: '3' });
    const [a, b, c] = [
      await createAccount(app),
      await createAccount(app),
      await createAccount(app),
    ];
    const [ab, ac] = [await conversation(app, a, b), await conversation(app, a, c)];
    // Requests the schema refuses never reach the limiter.
    for (const payload of [{}, { text: 'x'.repeat(20_000) }, { text: ['a', 'b'] }]) {
      assertProblem(await send(app, a, ab, payload), 400, 'validation_failed');
    }
    for (const [i, id] of [ab, ac, ab].entries()) {
      const res = await send(app, a, id, { text: `hello ${i}` });
      assert.equal(res.statusCode, 201, res.body);
      assert.equal(res.headers['ratelimit-remaining'], String(2 - i));
    }
    assertLimited(await send(app, a, ac, { text: 'one too many' }), 3);
    // The limit is the sender's: the others still write, to a as well.
    assert.equal((await send(app, b, ab, { text: 'reply' })).statusCode, 201);
    assert.equal((await send(app, c, ac, { text: 'reply' })).statusCode, 201);
    const page = await app.inject({
      method: 'GET',
      url: `${API}/conversations/${ac}/messages`,
      headers: a.auth,
    });
    assert.deepEqual(
      page.json<{ items: { text: string }[] }>().items.map((m) => m.text),
      ['reply', 'hello 1'],
      'the refused message was not stored',
    );
  });

  it('has defaults a person typing never reaches', async () => {
    const config = testConfig();
    assert.equal(config.messageRateLimit, 60);
    assert.equal(config.messageRateLimitWindow, 60);
  });
});

/** A second API node on the first one's database, Redis and key prefix. Closed by the caller. */
async function secondNode(
  first: Awaited<ReturnType<typeof createTestApp>>,
  env: Env,
): Promise<App> {
  const config = testConfig({ ...env, DATABASE_URL: first.ctx.config.databaseUrl });
  const ctx = await createContext(config, { log: createLogger('silent'), migrate: false });
  const app = await buildApp(ctx);
  app.addHook('onClose', async () => {
    await ctx.close();
  });
  return app;
}

// Only with Redis: in-memory counters are per process (src/http/rate-limit.test.ts shows both).
if (redisUrl()) {
  describe('two API nodes on one Redis', () => {
    it('share login lock-outs and message budgets', async () => {
      await testRedis(); // removes this file's keys afterwards
      const env = {
        REDIS_URL: redisUrl()!,
        REDIS_PREFIX: `${testPrefix}:rl:`,
        RATE_LIMIT_LOGIN_PER_ACCOUNT: '2',
        RATE_LIMIT_MESSAGES: '2',
      };
      const one = await createTestApp({ env });
      const two = await secondNode(one, env);
      try {
        const victim = await registered(one.app);
        const guess = { login: victim.username, password: 'wrong-password' };
        assertProblem(
          await post(one.app, '/auth/login', guess, '10.3.0.1'),
          401,
          'invalid_credentials',
        );
        assertProblem(
          await post(two, '/auth/login', guess, '10.3.0.2'),
          401,
          'invalid_credentials',
        );
        assertLimited(await post(one.app, '/auth/login', guess, '10.3.0.3'), 2);
        assertLimited(await post(two, '/auth/login', guess, '10.3.0.4'), 2);

        const [a, b] = [await createAccount(one.app), await createAccount(one.app)];
        const id = await conversation(one.app, a, b);
        const text = { text: 'across nodes' };
        assert.equal((await send(one.app, a, id, text)).statusCode, 201);
        assert.equal((await send(two, a, id, text)).statusCode, 201);
        assertLimited(await send(one.app, a, id, text), 2);
        assertLimited(await send(two, a, id, text), 2);
      } finally {
        await two.close();
      }
    });
  });
}
