/**
 * Every route the app registers, and the authorization matrix of the account routes.
 *
 * The inventory: each registered route (documented or not) belongs to exactly one matrix area
 * (test/support/authorization-scope.ts), and every `auth: required` route refuses an anonymous caller.
 *
 * The account matrix: viewers anonymous, an unrelated user (other), a user O blocked (B), a user
 * who blocked O (X), and the owner O. Nobody can name another account on `/me` routes, so there
 * the others act on their own account and O's must not change. On the routes that take a
 * credential in the body (password, refresh token, mailed link) the bearer token is ignored and
 * "owner" means holding O's secret: the others present O's login with a wrong password, a
 * tampered refresh token, a link naming O's token row without its signature.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { EmailTokenSigner } from '../../src/modules/accounts/email-tokens.service.ts';
import type { EmailTokenPurpose } from '../../src/infra/db/schema.ts';
import {
  AREAS,
  areasOf,
  assertAreaCovered,
  registeredRoutes,
  routeKey,
  fullPath as full,
  requester,
} from '../support/authorization-scope.ts';
import { createTestApp, TEST_JWT_SECRET } from '../support/harness.ts';
import {
  createAccount,
  login,
  newUser,
  uniqueUsername,
  type Account,
} from '../support/factories.ts';
import { assertProblem } from '../support/problems.ts';
import { redisUrl, testPrefix, testRedis } from '../support/services.ts';

if (redisUrl()) await testRedis(); // removes this file's keys afterwards
const { app, ctx } = await createTestApp({
  env: {
    RATE_LIMIT_MAIL: '1000',
    // PGlite runs on this thread: its queries must not read as overload.
    SHED_MAX_EVENT_LOOP_DELAY_MS: '0',
    ...(redisUrl() && { REDIS_URL: redisUrl()!, REDIS_PREFIX: `${testPrefix}:authz:` }),
  },
});
const { db } = ctx.database;

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'HEAD';
const VIEWERS = ['anon', 'other', 'B', 'X', 'O'] as const;
type Viewer = (typeof VIEWERS)[number];
type Body = Record<string, unknown>;

const { call, must } = requester(app);

// ---------------------------------------------------------------------------------------------
// Fixtures

/** O's own password: the other accounts have the factory's, so O's is a secret they lack. */
const PASSWORD = 'owner-only-passphrase-42';
const NEW_PASSWORD = 'a-brand-new-passphrase-7';
const owner = () => createAccount(app, { username: uniqueUsername('owner'), password: PASSWORD });
const O = await owner();
const users: Record<Exclude<Viewer, 'anon'>, Account> = {
  O,
  other: await createAccount(app, { username: uniqueUsername('other') }),
  B: await createAccount(app, { username: uniqueUsername('b') }),
  X: await createAccount(app, { username: uniqueUsername('x') }),
};
await must(O, 'POST', `/users/${users.B.username}/block`, 200);
await must(users.X, 'POST', `/users/${O.username}/block`, 200);
await must(null, 'POST', '/auth/password-reset', 202, { email: O.email });

// The mailed links, read where the mail consumer reads them (mail itself: test/e2e/mail.test.ts).
const signer = new EmailTokenSigner(TEST_JWT_SECRET);
async function tokenRow(user: Account, purpose: EmailTokenPurpose): Promise<string> {
  const row = await db
    .selectFrom('email_tokens')
    .select('id')
    .where('user_id', '=', user.id)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .orderBy('created_at', 'desc')
    .executeTakeFirstOrThrow();
  return row.id;
}
const mailedLink = async (user: Account, purpose: EmailTokenPurpose) =>
  signer.sign(await tokenRow(user, purpose), purpose);
/** A link naming O's real token row, without its signature. */
const forgedLink = async (purpose: EmailTokenPurpose) =>
  `${await tokenRow(O, purpose)}.${'A'.repeat(43)}`;
const tampered = (token: string) => token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');

const verifiedAt = async (user: Account) =>
  (
    await db
      .selectFrom('users')
      .select('email_verified_at')
      .where('id', '=', user.id)
      .executeTakeFirstOrThrow()
  ).email_verified_at;
const revokedSessions = async (user: Account) =>
  (
    await db
      .selectFrom('refresh_tokens')
      .select('id')
      .where('user_id', '=', user.id)
      .where('revoked_at', 'is not', null)
      .execute()
  ).length;
/** O's public profile: O's account as others see it. */
const profileOfO = async () =>
  (await must(null, 'GET', `/users/${O.username}`, 200)).json<{ display_name: string }>();

// ---------------------------------------------------------------------------------------------
// The account matrix

interface Cell {
  who: Viewer;
  method: Method;
  /** The route as in the route table. */
  route: string;
  status: number;
  code?: string;
  /** Builds the request when the cell runs, as `me` (a fresh owner when `fresh`). */
  request: (me: Account | null) => Promise<{ path: string; body?: object }>;
  /** Acts as a new account of its own (the request changes O's account for good). */
  fresh?: boolean;
  /** More assertions on the answer and on O's account afterwards. */
  check?: (body: Body, me: Account | null) => Promise<void> | void;
}
type Expect = Omit<Cell, 'who' | 'method' | 'route' | 'request'>;
type Rule = (who: Viewer) => Expect;

const cells: Cell[] = [];
/** One row: the route, how to call it, and what each viewer gets. */
function row(route: string, request: Cell['request'], rule: Rule): void {
  const [method, url] = route.split(' ') as [Method, string];
  for (const who of VIEWERS) cells.push({ who, method, route: full(url), request, ...rule(who) });
}
const fixed =
  (path: string, body?: object): Cell['request'] =>
  async () => ({ path, ...(body && { body }) });
const UNAUTHORIZED: Expect = { status: 401, code: 'unauthorized' };
const isO = (who: Viewer) => who === 'O';
/** O, or a new owner: whoever holds O's password. */
const isOwner = (me: Account | null) => me !== null && me.password === PASSWORD;
/** `/me` routes: the caller's own account, whoever they are. */
const own =
  (status: number, check?: Cell['check']): Rule =>
  (who) =>
    who === 'anon' ? UNAUTHORIZED : { status, ...(check && { check }) };
const ownAccount: Cell['check'] = (body, me) => assert.equal(body.id, me!.id);
const assertOUnchanged = async () => assert.equal((await profileOfO()).display_name, O.username);

row('GET /healthz', fixed('/healthz'), () => ({ status: 200 }));
row('GET /readyz', fixed('/readyz'), () => ({ status: 200 }));

// Registration: O's username is taken for everybody, whatever session they hold.
row('POST /auth/register', fixed('/auth/register', newUser({ username: O.username })), () => ({
  status: 409,
  code: 'username_taken',
}));

// Login: only O's password opens O's account.
row(
  'POST /auth/login',
  async (me) => ({
    path: '/auth/login',
    body: { login: O.username, password: isOwner(me) ? PASSWORD : `not-${PASSWORD}` },
  }),
  (who) =>
    isO(who)
      ? { status: 200, check: (b) => assert.equal((b.user as Body).id, O.id) }
      : { status: 401, code: 'invalid_credentials' },
);

// Refresh and logout: only O's refresh token acts on O's session (the owner's is a new one).
const refreshBody = async (me: Account | null) => ({
  refresh_token: isOwner(me)
    ? (await login(app, me!.username, PASSWORD)).refresh_token
    : tampered(O.refreshToken),
});
row(
  'POST /auth/refresh',
  async (me) => ({ path: '/auth/refresh', body: await refreshBody(me) }),
  (who) =>
    isO(who)
      ? { status: 200, check: (b) => assert.equal((b.user as Body).id, O.id) }
      : { status: 401, code: 'invalid_refresh_token' },
);
row(
  'POST /auth/logout',
  async (me) => ({ path: '/auth/logout', body: await refreshBody(me) }),
  (who) => ({
    status: 204,
    // Unknown tokens are ignored, and O's sessions live on; O's own logout ends that session.
    check: async () => assert.equal(await revokedSessions(O), isO(who) ? 1 : 0),
  }),
);

// The mailed links: O's link verifies O (a new owner: it is spent); a forged one changes nothing.
for (const how of ['POST', 'GET'] as const) {
  const path = async (me: Account | null) => {
    const token = isOwner(me)
      ? await mailedLink(me!, 'verify_email')
      : await forgedLink('verify_email');
    return how === 'GET'
      ? { path: `/auth/verify-email?token=${encodeURIComponent(token)}` }
      : { path: '/auth/verify-email', body: { token } };
  };
  row(`${how} /auth/verify-email`, path, (who) =>
    isO(who)
      ? {
          status: 200,
          fresh: true,
          check: (b, me) =>
            assert.deepEqual(b, { username: me!.username, email: me!.email, email_verified: true }),
        }
      : {
          status: 400,
          code: 'link_invalid',
          check: async () => assert.equal(await verifiedAt(O), null),
        },
  );
}
row(
  'POST /auth/verify-email/resend',
  fixed('/auth/verify-email/resend'),
  own(202, (b, me) => assert.deepEqual(b, { email: me!.email })),
);

// Anybody may ask for a reset mail to O's address: the answer never says whether it exists,
// and the link goes to that address only.
row('POST /auth/password-reset', fixed('/auth/password-reset', { email: O.email }), () => ({
  status: 202,
  check: (b) => assert.deepEqual(b, { email: O.email }),
}));
row(
  'POST /auth/password-reset/confirm',
  async (me) => {
    if (!isOwner(me))
      return {
        path: '/auth/password-reset/confirm',
        body: { token: await forgedLink('reset_password'), password: NEW_PASSWORD },
      };
    await must(null, 'POST', '/auth/password-reset', 202, { email: me!.email });
    const token = await mailedLink(me!, 'reset_password');
    return { path: '/auth/password-reset/confirm', body: { token, password: NEW_PASSWORD } };
  },
  (who) => ({
    ...(isO(who) ? { status: 204, fresh: true } : { status: 400, code: 'link_invalid' }),
    // The owner's new password works; O's stays what it was.
    check: async (_b, me) =>
      void (await login(app, (isO(who) ? me! : O).username, isO(who) ? NEW_PASSWORD : PASSWORD)),
  }),
);

// The caller's own account.
row('GET /me', fixed('/me'), own(200, ownAccount));
// Back to the default pictures: the caller's own account only. (Before PATCH /me, whose O
// row renames O: assertOUnchanged compares O's display name.)
for (const kind of ['avatar', 'header'] as const) {
  row(`DELETE /me/${kind}`, fixed(`/me/${kind}`), (who) =>
    own(200, async (b, me) => {
      assert.equal(b.id, me!.id);
      assert.match(String(b[`${kind}_url`]), /\/original\/missing\.png$/);
      if (!isO(who)) await assertOUnchanged();
    })(who),
  );
}
row(
  'PATCH /me',
  async (me) => ({ path: '/me', body: { display_name: `renamed by ${me?.username}` } }),
  (who) =>
    own(200, async (b, me) => {
      assert.equal(b.id, me!.id);
      if (!isO(who)) await assertOUnchanged();
    })(who),
);
row(
  'POST /me/password',
  fixed('/me/password', { current_password: PASSWORD, new_password: NEW_PASSWORD }),
  (who) =>
    who === 'anon'
      ? UNAUTHORIZED
      : isO(who)
        ? {
            status: 204,
            fresh: true,
            check: async (_b, me) => void (await login(app, me!.username, NEW_PASSWORD)),
          }
        : {
            status: 403,
            code: 'wrong_password',
            check: async () => void (await login(app, O.username, PASSWORD)),
          },
);
// Deleting the account: only with the caller's own password, and never O's account.
row('DELETE /me', fixed('/me', { password: PASSWORD }), (who) =>
  who === 'anon'
    ? UNAUTHORIZED
    : isO(who)
      ? {
          status: 202,
          fresh: true,
          check: async (_b, me) => {
            assertProblem(await call(me, 'GET', '/me'), 401, 'invalid_token');
          },
        }
      : { status: 403, code: 'wrong_password', check: async () => void (await profileOfO()) },
);
row(
  'POST /me/email',
  async () => ({
    path: '/me/email',
    body: { email: `${uniqueUsername('new')}@example.com`, password: PASSWORD },
  }),
  (who) =>
    who === 'anon'
      ? UNAUTHORIZED
      : isO(who)
        ? { status: 202, check: (b) => assert.match(String(b.email), /^new_/) }
        : { status: 403, code: 'wrong_password' },
);

// Profiles are public, but a block hides O from the users in it, either way: O's profile is
// 404 as for a user who does not exist, and search leaves O out (more:
// test/authorization/blocks-visibility.test.ts).
const inBlockWithO = (who: Viewer) => who === 'B' || who === 'X';
row('GET /users/:username', fixed(`/users/${O.username}`), (who) =>
  inBlockWithO(who)
    ? { status: 404, code: 'user_not_found' }
    : { status: 200, check: (b) => assert.equal(b.id, O.id) },
);
row('GET /users', fixed(`/users?q=${O.username}`), (who) => ({
  status: 200,
  check: (b) =>
    assert.deepEqual(
      (b.items as Body[]).map((u) => u.id),
      inBlockWithO(who) ? [] : [O.id],
    ),
}));

/** Beyond the grid: another user cannot take O's address either. */
const extra: Cell[] = [
  {
    who: 'other',
    method: 'POST',
    route: full('/me/email'),
    request: async (me) => ({
      path: '/me/email',
      body: { email: O.email, password: me!.password },
    }),
    status: 409,
    code: 'email_taken',
  },
];

describe('account routes: authorization matrix', () => {
  for (const c of [...cells, ...extra]) {
    const name = `${c.who}${c.fresh ? ' (new)' : ''} ${c.method} ${c.route} → ${c.status}${c.code ? ` ${c.code}` : ''}`;
    it(name, async () => {
      const me = c.who === 'anon' ? null : c.fresh ? await owner() : users[c.who];
      const { path, body } = await c.request(me);
      const res: LightMyRequestResponse = await call(me, c.method, path, body);
      if (c.code) assertProblem(res, c.status, c.code);
      else assert.equal(res.statusCode, c.status, res.body);
      await c.check?.(res.body ? res.json<Body>() : {}, me);
    });
  }

  it('covers every account route', () => {
    assertAreaCovered(app, 'accounts', new Set(cells.map((c) => `${c.method} ${c.route}`)));
  });
});

// ---------------------------------------------------------------------------------------------
// Every route

describe('route inventory', () => {
  const routes = registeredRoutes(app);

  it('puts every registered route in exactly one matrix area', () => {
    const misplaced = routes
      .map((r) => [routeKey(r), areasOf(r).join(' ')])
      .filter(([, areas]) => !areas || areas.includes(' '));
    assert.deepEqual(misplaced, [], 'routes in no area (or several): add them to a matrix');
    for (const { file } of Object.values(AREAS))
      assert.ok(existsSync(new URL(`../../${file}`, import.meta.url)), file);
  });

  // Public by design: the API's description and its UI, Prometheus metrics (nginx passes
  // /metrics through today: keep it off the public edge), and the DeathStarBench routes, which a
  // benchmark drives without accounts (DSB_COMPAT=true only). Anonymous callers are let in.
  for (const r of routes.filter((x) => areasOf(x)[0] === 'public' && !/[:*]/.test(x.url))) {
    it(`anonymous ${routeKey(r)} is let in (public by design)`, async () => {
      const res = await app.inject({ method: r.method as Method, url: r.url });
      assert.ok(
        ![401, 403].includes(res.statusCode),
        `${res.statusCode} ${res.body.slice(0, 200)}`,
      );
    });
  }
});

/** Minimal valid bodies for the anonymous sweep (the default suits posts and comments). */
const MIN_BODY: Record<string, object> = {
  'PATCH /api/v1/me': { display_name: 'Anon' },
  'POST /api/v1/me/password': { current_password: 'x', new_password: NEW_PASSWORD },
  'POST /api/v1/me/email': { email: 'anon@example.com', password: 'x' },
  'DELETE /api/v1/me': { password: 'x' },
  'POST /api/v1/conversations': { username: O.username },
  'POST /api/v1/notifications/read': { all: true },
};

describe('anonymous callers of auth: required routes', () => {
  for (const route of app.routeTable.filter((r) => r.auth === 'required')) {
    const url = route.url
      .replace(':username', O.username)
      .replace(/:\w+/g, () => randomUUID())
      .concat(route.url.endsWith('/relationships') ? `?users=${O.username}` : '');
    // Every GET also answers HEAD, except the SSE stream (HEAD would open a stream).
    const head = route.method === 'GET' && app.hasRoute({ method: 'HEAD', url: route.url });
    const methods = head ? (['GET', 'HEAD'] as const) : [route.method as Method];
    for (const method of methods) {
      it(`anonymous ${method} ${route.url} → 401 unauthorized`, async () => {
        const body = route.body ? (MIN_BODY[routeKey(route)] ?? { text: 'hello' }) : undefined;
        const res = await app.inject({ method, url, ...(body ? { payload: body } : {}) });
        assert.equal(res.statusCode, 401, res.body);
        if (method !== 'HEAD') assert.equal(res.json<{ code: string }>().code, 'unauthorized');
        assert.equal(res.headers['www-authenticate'], 'Bearer');
      });
    }
  }
});
