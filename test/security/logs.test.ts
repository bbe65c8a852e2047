/**
 * Secrets never reach logs or error bodies. A whole account life (register, log in, refresh,
 * change and reset the password, verify the address, open a stream with ?access_token=, fail
 * validation, crash a handler) runs with every log line captured at `trace`, in production mode;
 * then every line and every response body is searched for each secret used.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse as Res } from 'fastify';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import { EmailTokenSigner } from '../../src/modules/accounts/email-tokens.service.ts';
import type { EmailTokenPurpose } from '../../src/infra/db/schema.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { api, expectStatus } from '../support/api.ts';
import { drain } from '../support/drain.ts';
import { newUser } from '../support/factories.ts';
import { createTestApp, TEST_JWT_SECRET } from '../support/harness.ts';
import { redisUrl, testPrefix, testRedis } from '../support/services.ts';

const API = '/api/v1';

let app: App;
let ctx: Context;
let logs: string[];
let stopWorker: () => Promise<void>;
before(async () => {
  if (redisUrl()) await testRedis(); // removes this file's keys afterwards
  ({ app, ctx, logs } = await createTestApp({
    captureLogs: true,
    env: {
      LOG_LEVEL: 'trace',
      // What operators run: development mode also logs mailed links, for convenience.
      NODE_ENV: 'production',
      BCRYPT_COST: '10',
      ...(redisUrl() && { REDIS_URL: redisUrl()!, REDIS_PREFIX: `${testPrefix}:logs:` }),
    },
  }));
  const worker = await startWorker(ctx); // mail is sent and logged as in production
  stopWorker = () => worker.stop();
});
after(() => stopWorker());

/** Every response of the session, with whether it may carry a token (session responses). */
const { call: request } = api(() => app);
const responses: { res: Res; issuesTokens: boolean }[] = [];
/** Every secret used, by name. */
const secrets = new Map<string, string>();

async function call(
  method: string,
  url: string,
  opts: { payload?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<Res> {
  const res = await request(method, url, null, opts.payload, {
    ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
    ...opts.headers,
  });
  const issuesTokens = /^\/auth\/(login|refresh)$/.test(url) && res.statusCode === 200;
  responses.push({ res, issuesTokens });
  return res;
}

const expect = async (status: number, res: Promise<Res>) => expectStatus(await res, status);

function addSession(name: string, res: Res): { access: string; refresh: string } {
  const { access_token: access, refresh_token: refresh } = res.json<Record<string, string>>();
  secrets.set(`${name} access token`, access!);
  // The signature alone is enough to forge nothing, but it is the secret part of the token.
  secrets.set(`${name} access token signature`, access!.split('.')[2]!);
  secrets.set(`${name} refresh token`, refresh!);
  return { access: access!, refresh: refresh! };
}

async function mailToken(userId: string, purpose: EmailTokenPurpose): Promise<string> {
  const row = await ctx.database.db
    .selectFrom('email_tokens')
    .select('id')
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  return new EmailTokenSigner(TEST_JWT_SECRET).sign(row.id, purpose);
}

async function passwordHash(userId: string): Promise<string> {
  const row = await ctx.database.db
    .selectFrom('users')
    .select('password_hash')
    .where('id', '=', userId)
    .executeTakeFirstOrThrow();
  return row.password_hash;
}

describe('secrets in logs and error bodies', () => {
  it('runs an account through every credential-bearing request', async () => {
    const user = newUser({ password: 'first-Secret-Passw0rd' });
    secrets.set('JWT_SECRET', TEST_JWT_SECRET);
    secrets.set('first password', user.password);

    // Invalid bodies that carry the password: the answer must not echo it.
    await expect(400, call('POST', '/auth/register', { payload: { ...user, username: 'x' } }));
    await expect(
      400,
      call('POST', '/auth/register', {
        payload: `{"username":"${user.username}","password":"${user.password}"`,
        headers: { 'content-type': 'application/json' },
      }),
    );
    await expect(
      400,
      call('POST', '/auth/login', { payload: { login: '', password: user.password } }),
    );
    const reg = await expect(201, call('POST', '/auth/register', { payload: user }));
    const userId = reg.json<{ id: string }>().id;
    secrets.set('first password hash', await passwordHash(userId));

    await expect(
      401,
      call('POST', '/auth/login', {
        payload: { login: user.username, password: 'wrong-Passw0rd-guess' },
      }),
    );
    const login = { login: user.username, password: user.password };
    const first = addSession(
      'first',
      await expect(200, call('POST', '/auth/login', { payload: login })),
    );
    const second = addSession(
      'refreshed',
      await expect(
        200,
        call('POST', '/auth/refresh', { payload: { refresh_token: first.refresh } }),
      ),
    );
    // Reusing a spent refresh token, and an access token where a refresh token goes.
    await expect(401, call('POST', '/auth/refresh', { payload: { refresh_token: first.refresh } }));
    await expect(400, call('POST', '/auth/refresh', { payload: { refresh_token: first.access } }));
    const third = addSession(
      'third',
      await expect(200, call('POST', '/auth/login', { payload: login })),
    );

    await expect(200, call('GET', '/me', { token: third.access }));
    await expect(401, call('GET', '/me', { token: `${third.access}x` }));
    await expect(401, call('GET', '/me', { headers: { authorization: `Token ${third.access}` } }));
    await expect(401, call('GET', `/me?access_token=${third.access}`));
    for (const display_name of [`${user.password}\u0000`, `${'x'.repeat(60)}${user.password}`]) {
      await expect(400, call('PATCH', '/me', { token: third.access, payload: { display_name } }));
    }

    // Change the password: once wrong, once right.
    const changed = 'second-Secret-Passw0rd';
    secrets.set('second password', changed);
    await expect(
      403,
      call('POST', '/me/password', {
        token: third.access,
        payload: { current_password: 'not-it-at-all', new_password: changed },
      }),
    );
    await expect(
      204,
      call('POST', '/me/password', {
        token: third.access,
        payload: { current_password: user.password, new_password: changed },
      }),
    );
    secrets.set('second password hash', await passwordHash(userId));

    // Verify the address by the mailed link (GET, token in the query) and by POST.
    const verify = await mailToken(userId, 'verify_email');
    secrets.set('verification token', verify);
    await expect(400, call('GET', `/auth/verify-email?token=${verify}x`));
    await expect(200, call('GET', `/auth/verify-email?token=${verify}`));
    await expect(400, call('POST', '/auth/verify-email', { payload: { token: verify } }));

    // Reset it by mail.
    await expect(202, call('POST', '/auth/password-reset', { payload: { email: user.email } }));
    await drain(ctx);
    const reset = await mailToken(userId, 'reset_password');
    secrets.set('reset token', reset);
    const third_password = 'third-Secret-Passw0rd';
    secrets.set('third password', third_password);
    await expect(
      400,
      call('POST', '/auth/password-reset/confirm', {
        payload: { token: `${reset}x`, password: third_password },
      }),
    );
    await expect(
      204,
      call('POST', '/auth/password-reset/confirm', {
        payload: { token: reset, password: third_password },
      }),
    );
    await expect(
      400,
      call('POST', '/auth/password-reset/confirm', {
        payload: { token: reset, password: third_password },
      }),
    );
    secrets.set('third password hash', await passwordHash(userId));
    const last = addSession(
      'last',
      await expect(
        200,
        call('POST', '/auth/login', { payload: { login: user.email, password: third_password } }),
      ),
    );
    await expect(204, call('POST', '/auth/logout', { payload: { refresh_token: last.refresh } }));

    // The stream takes its token in the query string: over a real socket, as browsers do.
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const denied = await fetch(`${base}${API}/stream/sse?access_token=${second.access}x`);
    assert.equal(denied.status, 401);
    responses.push({
      res: { statusCode: 401, body: await denied.text() } as Res,
      issuesTokens: false,
    });
    const abort = new AbortController();
    const stream = await fetch(`${base}${API}/stream/sse?since=0&access_token=${last.access}`, {
      signal: abort.signal,
    });
    assert.equal(stream.status, 200);
    abort.abort();

    // A handler that crashes, with credentials on the request: the 500 is logged in full.
    const original = ctx.users.getById.bind(ctx.users);
    ctx.users.getById = () => Promise.reject(new TypeError('handler exploded'));
    try {
      await expect(500, call('GET', '/me', { token: last.access }));
    } finally {
      ctx.users.getById = original;
    }
    await drain(ctx);
  });

  it('logged the session at trace level (so the search below means something)', () => {
    const text = logs.join('\n');
    for (const expected of [
      /"msg":"incoming request"/,
      /"msg":"request completed"/,
      /"msg":"request failed"/,
      /handler exploded/,
      /access_token=\[redacted\]/,
      /verify-email\?token=\[redacted\]/,
      /"msg":"mail written"/,
    ]) {
      assert.match(text, expected);
    }
  });

  it('no log line and no response body holds any secret', () => {
    assert.ok(secrets.size >= 15, `${secrets.size} secrets`);
    for (const [name, secret] of secrets) {
      const line = logs.find((l) => l.includes(secret));
      assert.equal(line, undefined, `${name} appears in a log line: ${line?.slice(0, 300)}`);
      for (const { res, issuesTokens } of responses) {
        // Session responses hand out their own tokens: that is their job.
        if (issuesTokens && /token/.test(name)) continue;
        assert.ok(!res.body.includes(secret), `${name} appears in a ${res.statusCode} body`);
      }
    }
    for (const { res } of responses) {
      assert.doesNotMatch(res.body, /\$2[aby]\$\d\d\$/, 'no bcrypt hash in any body');
    }
  });

  it('redacts credentials wherever a logged object carries them', () => {
    const before = logs.length;
    ctx.log.info(
      {
        config: ctx.config,
        body: {
          password: 'p-1',
          current_password: 'p-2',
          new_password: 'p-3',
          refresh_token: 'r-4',
          token: 't-5',
        },
        user: { password_hash: '$2b$10$abcdefghijklmnopqrstuv' },
        req: { headers: { authorization: 'Bearer a-6', cookie: 'c-7' } },
      },
      'objects with secrets',
    );
    const line = logs.slice(before).join('\n');
    assert.match(line, /objects with secrets/);
    for (const secret of [
      'p-1',
      'p-2',
      'p-3',
      'r-4',
      't-5',
      '$2b$10$',
      'a-6',
      'c-7',
      TEST_JWT_SECRET,
    ]) {
      assert.ok(!line.includes(secret), `${secret} in ${line}`);
    }
  });
});
