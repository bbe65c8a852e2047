/**
 * Schema-driven fuzzing from the OpenAPI document. For every documented operation, fast-check
 * builds requests (path, query, headers, body) that are valid by the schema, break one part of
 * it, or are hostile throughout (test/support/openapi-fuzz.ts), and sends them as the owner of some data,
 * as their friend, with a bad token and anonymously. Every answer must be below 500 and match the
 * schema documented for its status: the success schema, or problem+json with a stable `code`.
 *
 * FUZZ_SEED fixes the seed (printed on failure); FUZZ_RUNS sets the random runs per operation
 * (they follow a fixed sweep of troublesome characters through every parameter and field).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { LightMyRequestResponse as Res } from 'fastify';
import type { Context } from '../../src/app/context.ts';
import type { App } from '../../src/http/types.ts';
import { EmailTokenSigner } from '../../src/modules/accounts/email-tokens.service.ts';
import { startWorker } from '../../src/app/roles/worker.ts';
import { drain } from '../support/drain.ts';
import { createAccount, login, type Account } from '../support/factories.ts';
import { createTestApp, TEST_JWT_SECRET } from '../support/harness.ts';
import {
  check,
  examples,
  pools,
  requests,
  seen,
  type Operation,
  type Request,
} from '../support/openapi-fuzz.ts';
import { redisUrl, testPrefix, testRedis } from '../support/services.ts';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.FUZZ_RUNS ?? 50);

// ---- data the owner holds, so that valid requests reach real rows ----------------------------

if (redisUrl()) await testRedis(); // removes this file's keys afterwards
const { app, ctx }: { app: App; ctx: Context } = await createTestApp({
  env: {
    RATE_LIMIT_MESSAGES: '1000000',
    RATE_LIMIT_MAIL: '1000000',
    ...(redisUrl() && { REDIS_URL: redisUrl()!, REDIS_PREFIX: `${testPrefix}:fuzz:` }),
  },
});
let owner: Account;
let friend: Account;

before(async () => {
  const [o, f, stranger, requester] = await Promise.all([1, 2, 3, 4].map(() => createAccount(app)));
  [owner, friend] = [o!, f!];
  const as = (who: Account, method: string, url: string, payload?: object) =>
    app
      .inject({
        method: method as 'GET',
        url: `/api/v1${url}`,
        headers: who.auth,
        ...(payload && { payload }),
      })
      .then((res) => {
        assert.ok(res.statusCode < 300, `${method} ${url}: ${res.body}`);
        return res.body ? res.json<{ id: string }>() : { id: '' };
      });
  // The worker turns the seeded activity into notifications; it is stopped before fuzzing.
  const worker = await startWorker(ctx);
  const request = await as(owner, 'POST', `/users/${friend.username}/friend-request`);
  await as(friend, 'POST', `/friend-requests/${request.id}/accept`);
  const pending = await as(requester!, 'POST', `/users/${owner.username}/friend-request`);
  const posts = [
    await as(owner, 'POST', '/posts', { text: 'public @' + friend.username }),
    await as(owner, 'POST', '/posts', { text: 'friends only', visibility: 'friends' }),
    await as(friend, 'POST', '/posts', { text: 'the friend writes' }),
  ];
  await as(owner, 'PATCH', `/posts/${posts[0]!.id}`, { text: 'edited' });
  const comment = await as(friend, 'POST', `/posts/${posts[0]!.id}/comments`, { text: 'hi' });
  await as(friend, 'POST', `/posts/${posts[0]!.id}/like`);
  await as(stranger!, 'POST', `/users/${owner.username}/follow`);
  const conversation = await as(owner, 'POST', '/conversations', { username: friend.username });
  const message = await as(friend, 'POST', `/conversations/${conversation.id}/messages`, {
    text: 'yo',
  });
  await drain(ctx);
  await worker.stop();
  const notifications = await app.inject({
    method: 'GET',
    url: '/api/v1/notifications',
    headers: owner.auth,
  });
  const notificationIds = notifications.json<{ items: { id: string }[] }>().items.map((n) => n.id);
  assert.ok(notificationIds.length > 0, 'seeded notifications');
  pools.ids = [
    ...posts.map((p) => p.id),
    comment.id,
    conversation.id,
    message.id,
    pending.id,
    ...notificationIds,
  ];
  pools.byKind = {
    posts: posts.map((p) => p.id),
    comments: [comment.id],
    conversations: [conversation.id],
    'friend-requests': [pending.id],
    ids: notificationIds,
  };
  pools.usernames = [owner, friend, stranger!, requester!].map((u) => u.username);
  // Secrets a client would hold, so that logins, refreshes and mailed links can succeed too.
  const sessions = await Promise.all(
    [1, 2, 3].map(() => login(app, owner.username, owner.password)),
  );
  await as(friend, 'POST', '/auth/password-reset', { email: friend.email });
  const signer = new EmailTokenSigner(TEST_JWT_SECRET);
  const mailed = await ctx.database.db
    .selectFrom('email_tokens')
    .select(['id', 'purpose'])
    .where('user_id', 'in', [owner.id, friend.id])
    .execute();
  pools.byName = {
    password: [owner.password],
    current_password: [owner.password],
    refresh_token: sessions.map((t) => t.refresh_token),
    token: mailed.map((t) => signer.sign(t.id, t.purpose)),
  };
  pools.emails = [owner, friend].map((u) => u.email);
});

// ---- sending -------------------------------------------------------------------------------

async function send(op: Operation, r: Request): Promise<Res> {
  const url = op.path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(r.path[name]!));
  const search = r.query.length ? `?${new URLSearchParams(r.query).toString()}` : '';
  const token = {
    owner: owner.accessToken,
    friend: friend.accessToken,
    anonymous: undefined,
    'bad token': 'not.a.token',
  }[r.who];
  const headers: Record<string, string> = { ...r.headers };
  if (token) headers.authorization = `Bearer ${token}`;
  const { json, raw } = r.body;
  const payload = raw ?? (json === undefined ? undefined : JSON.stringify(json));
  if (payload !== undefined) headers['content-type'] = 'application/json';
  return app.inject({
    method: op.method as 'GET',
    url: `${url}${search}`,
    headers,
    ...(payload === undefined ? {} : { payload }),
  });
}

// ---- the operations ---------------------------------------------------------------------------------

// Reads first and destructive calls last, so the seeded rows are there for most of the run; what
// ends the owner's session or account (deleting it refuses their tokens at once) comes last.
const ORDER = ['GET', 'PATCH', 'POST', 'DELETE'];
const rank = (op: Operation) =>
  ORDER.indexOf(op.method) +
  (/\/(block|password|logout)/.test(op.path) ? 10 : 0) +
  (op.method === 'DELETE' && /\/me$/.test(op.path) ? 20 : 0);

/**
 * The Server-Sent Events stream answers with a response that never ends, which `inject` would
 * wait for forever; its authentication and query are tested in security-tokens.test.ts and
 * realtime.e2e.test.ts. (The WebSocket route is fuzzed as plain HTTP: without an upgrade it answers 426.)
 */
const STREAMS = new Set(['GET /api/v1/stream/sse']);

// Read before the tests are declared: they are generated from it.
const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json<{
  paths: Record<string, Record<string, Omit<Operation, 'method' | 'path'>>>;
}>();
const operations: Operation[] = Object.entries(doc.paths)
  .flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ ...op, method: method.toUpperCase(), path })),
  )
  .sort((a, b) => rank(a) - rank(b));

describe(`fuzzing every operation of the OpenAPI document (FUZZ_SEED=${SEED}, ${RUNS} runs each)`, () => {
  it('the document lists every route of the route table', () => {
    const documented = new Set(operations.map((o) => `${o.method} ${o.path}`));
    const routes = app.routeTable.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`);
    assert.deepEqual(
      routes.filter((r) => !documented.has(r)),
      [],
    );
    assert.ok(operations.length >= 50, `${operations.length} operations`);
    assert.deepEqual(
      operations.filter((o) => STREAMS.has(`${o.method} ${o.path}`)).length,
      STREAMS.size,
    );
  });

  for (const op of operations) {
    const name = `${op.method} ${op.path}`;
    if (STREAMS.has(name)) continue;
    it(name, async () => {
      try {
        const sweep = examples(op, SEED);
        await fc.assert(
          fc.asyncProperty(requests(op), async (r) => check(op, r, await send(op, r))),
          // The examples count towards numRuns: RUNS random requests follow them.
          { seed: SEED, numRuns: sweep.length + RUNS, examples: sweep },
        );
      } catch (err) {
        throw new Error(`${name} failed; rerun with FUZZ_SEED=${SEED}\n${(err as Error).message}`, {
          cause: err,
        });
      }
    });
  }

  // A fuzzer stuck at validation would pass while testing little: most operations (3 in 5) must have
  // answered some request with success (those needing a secret, like a mailed token, cannot; nor
  // can the moderators' routes, which the fuzzed users have no role for).
  it('got past validation: most operations answered some request with 2xx', (t) => {
    const open = [...seen].filter(([name]) => !name.includes('/admin/'));
    const succeeded = open.filter(([, statuses]) => [...statuses.keys()].some((s) => s < 300));
    const never = open.map(([name]) => name).filter((n) => !succeeded.some(([s]) => s === n));
    t.diagnostic(`never 2xx: ${never.join(', ')}`);
    assert.ok(succeeded.length >= open.length * 0.6, `${succeeded.length} of ${open.length}`);
  });
});
