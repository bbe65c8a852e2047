/**
 * The authorization matrix of the moderation routes, by role: anonymous (401), a user (their own
 * reports only; 403 `moderator_only` on every admin route), a moderator (everything but roles:
 * 403 `admin_only`), an admin (everything; admins themselves only from the command line), and a
 * suspended user, who can do nothing on any authenticated route of the whole API.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HTTPMethods } from 'fastify';
import { API_PREFIX as API } from '../../src/http/types.ts';
import { assertAreaCovered, requester } from '../support/authorization-scope.ts';
import { createAccount, uniqueUsername, type Account } from '../support/factories.ts';
import { createTestApp } from '../support/harness.ts';
import { assertProblem } from '../support/problems.ts';

const { app, ctx } = await createTestApp({ env: { SHED_MAX_EVENT_LOOP_DELAY_MS: '0' } });
const { call, must } = requester(app);
const account = (name: string) => createAccount(app, { username: uniqueUsername(name) });
const grant = (who: Account, role: 'admin' | 'moderator') =>
  ctx.moderation.setRole(null, who.username, role);

const [user, mod, admin, target, bad] = [
  await account('user'),
  await account('mod'),
  await account('admin'),
  await account('target'),
  await account('bad'),
];
await grant(mod, 'moderator');
await grant(admin, 'admin');

/** A fresh open report about `target`, filed by `user`. */
const openReport = async () =>
  (await must(user, 'POST', '/reports', 201, { account: target.username, category: 'spam' })).json<{
    id: string;
  }>().id;

type Role = 'anon' | 'user' | 'moderator' | 'admin';
type Cell = {
  method: HTTPMethods;
  route: string;
  /** The request, made fresh for each caller (ids of reports still open, and so on). */
  make: () => Promise<{ path: string; body?: object }>;
  /** Status each role gets; the first role allowed in order sets the bar for the others. */
  expect: Record<Role, number | string>;
  /** Mastodon's presentation (`Kith-Flavour: mastodon`): `{"error"}` bodies, not problems. */
  mastodon?: true;
};

const STAFF = { anon: 401, user: 'moderator_only', moderator: 200, admin: 200 };
const cells: Cell[] = [
  {
    method: 'POST',
    route: '/reports',
    make: async () => ({ path: '/reports', body: { account: target.username, category: 'spam' } }),
    expect: { anon: 401, user: 201, moderator: 201, admin: 201 },
  },
  {
    method: 'GET',
    route: '/reports',
    make: async () => ({ path: '/reports' }),
    expect: { anon: 401, user: 200, moderator: 200, admin: 200 },
  },
  {
    method: 'GET',
    route: '/admin/reports',
    make: async () => ({ path: '/admin/reports' }),
    expect: STAFF,
  },
  {
    method: 'GET',
    route: '/admin/reports/:id',
    make: async () => ({ path: `/admin/reports/${await openReport()}` }),
    expect: STAFF,
  },
  {
    method: 'POST',
    route: '/admin/reports/:id/assign',
    make: async () => ({ path: `/admin/reports/${await openReport()}/assign`, body: {} }),
    expect: STAFF,
  },
  {
    method: 'POST',
    route: '/admin/reports/:id/unassign',
    make: async () => ({ path: `/admin/reports/${await openReport()}/unassign` }),
    expect: STAFF,
  },
  {
    method: 'POST',
    route: '/admin/reports/:id/reopen',
    make: async () => {
      const id = await openReport();
      await ctx.reports.resolve(admin.id, id, 'dismiss', '');
      return { path: `/admin/reports/${id}/reopen` };
    },
    expect: STAFF,
  },
  {
    method: 'POST',
    route: '/admin/reports/:id/notes',
    make: async () => ({ path: `/admin/reports/${await openReport()}/notes`, body: { text: 'n' } }),
    expect: { ...STAFF, moderator: 201, admin: 201 },
  },
  {
    method: 'POST',
    route: '/admin/reports/:id/resolve',
    make: async () => ({
      path: `/admin/reports/${await openReport()}/resolve`,
      body: { action: 'dismiss' },
    }),
    expect: STAFF,
  },
  ...(['suspend', 'unsuspend', 'limit', 'unlimit'] as const).map((action) => ({
    method: 'POST' as const,
    route: `/admin/accounts/:username/${action}`,
    make: async () => {
      // Each caller acts on an account in the state the action needs.
      const who = await account('t');
      if (action === 'unsuspend') await ctx.moderation.act(admin.id, who.username, 'suspend', '');
      if (action === 'unlimit') await ctx.moderation.act(admin.id, who.username, 'limit', '');
      return { path: `/admin/accounts/${who.username}/${action}`, body: { reason: 'r' } };
    },
    expect: STAFF,
  })),
  {
    method: 'PUT',
    route: '/admin/accounts/:username/role',
    make: async () => ({
      path: `/admin/accounts/${(await account('r')).username}/role`,
      body: { role: 'moderator' },
    }),
    expect: { anon: 401, user: 'admin_only', moderator: 'admin_only', admin: 200 },
  },
  {
    method: 'GET',
    route: '/admin/audit',
    make: async () => ({ path: '/admin/audit' }),
    expect: STAFF,
  },
];

/** A fresh account, suspended or limited first when the action needs it. */
const accountIn = async (state: 'suspend' | 'limit' | null) => {
  const who = await account('t');
  if (state) await ctx.moderation.act(admin.id, who.username, state, '');
  return who;
};
const resolvedReport = async () => {
  const id = await openReport();
  await ctx.reports.resolve(admin.id, id, 'dismiss', '');
  return id;
};
const mastodonCells: Cell[] = [
  {
    method: 'POST',
    route: '/reports',
    make: async () => ({ path: '/reports', body: { account_id: target.id } }),
    expect: { anon: 401, user: 200, moderator: 200, admin: 200 },
  },
  { method: 'GET', route: '/admin/reports', make: async () => ({ path: '/admin/reports' }) },
  {
    method: 'GET',
    route: '/admin/reports/:id',
    make: async () => ({ path: `/admin/reports/${await openReport()}` }),
  },
  ...['assign_to_self', 'unassign', 'resolve'].map((verb) => ({
    method: 'POST' as const,
    route: `/admin/reports/:id/${verb}`,
    make: async () => ({ path: `/admin/reports/${await openReport()}/${verb}` }),
  })),
  {
    method: 'POST',
    route: '/admin/reports/:id/reopen',
    make: async () => ({ path: `/admin/reports/${await resolvedReport()}/reopen` }),
  },
  {
    method: 'GET',
    route: '/admin/accounts/:id',
    make: async () => ({ path: `/admin/accounts/${target.id}` }),
  },
  {
    method: 'POST',
    route: '/admin/accounts/:id/action',
    make: async () => ({
      path: `/admin/accounts/${(await accountIn(null)).id}/action`,
      body: { type: 'silence', text: 'r' },
    }),
  },
  ...(
    [
      ['unsuspend', 'suspend'],
      ['unsilence', 'limit'],
    ] as const
  ).map(([verb, state]) => ({
    method: 'POST' as const,
    route: `/admin/accounts/:id/${verb}`,
    make: async () => ({ path: `/admin/accounts/${(await accountIn(state)).id}/${verb}` }),
  })),
].map((cell) => ({ expect: STAFF, ...cell, mastodon: true }));
cells.push(...mastodonCells);

const callers: Record<Role, Account | null> = { anon: null, user, moderator: mod, admin };

describe('moderation routes by role', () => {
  for (const cell of cells) {
    for (const role of Object.keys(callers) as Role[]) {
      const expected = cell.expect[role];
      const flavour = cell.mastodon ? ' (Mastodon)' : '';
      it(`${cell.method} ${cell.route}${flavour} as ${role}: ${expected}`, async () => {
        const { path, body } = await cell.make();
        const headers: Record<string, string> = cell.mastodon ? { 'kith-flavour': 'mastodon' } : {};
        const res = await call(callers[role], cell.method, path, body, headers);
        if (typeof expected === 'number') assert.equal(res.statusCode, expected, res.body);
        else if (!cell.mastodon) assertProblem(res, 403, expected);
        else {
          assert.equal(res.statusCode, 403, res.body);
          assert.deepEqual(
            [res.json().error, res.json().code],
            ['This action is not allowed', expected],
          );
        }
        if (cell.mastodon) assert.match(String(res.headers['content-type']), /^application\/json/);
      });
    }
  }

  it('covers every moderation route', () => {
    assertAreaCovered(app, 'moderation', new Set(cells.map((c) => `${c.method} ${API}${c.route}`)));
  });
});

describe('roles', () => {
  it('admins are made only from the command line; staff answer to admins only', async () => {
    const other = await account('other');
    const res = await call(admin, 'PUT', `/admin/accounts/${other.username}/role`, {
      role: 'admin',
    });
    assertProblem(res, 403, 'admin_grant_cli_only');
    const demote = await call(admin, 'PUT', `/admin/accounts/${admin.username}/role`, {
      role: 'user',
    });
    assertProblem(demote, 403, 'admin_grant_cli_only');
    const peer = await account('peer');
    await grant(peer, 'moderator');
    assertProblem(
      await call(mod, 'POST', `/admin/accounts/${peer.username}/suspend`, {}),
      403,
      'cannot_moderate_staff',
    );
    assertProblem(
      await call(mod, 'POST', `/admin/accounts/${admin.username}/suspend`, {}),
      403,
      'cannot_moderate_staff',
    );
    assertProblem(
      await call(mod, 'POST', `/admin/accounts/${mod.username}/limit`, {}),
      400,
      'cannot_target_self',
    );
    // A revoked moderator loses the queue at their next request.
    await must(admin, 'PUT', `/admin/accounts/${peer.username}/role`, 200, { role: 'user' });
    assertProblem(await call(peer, 'GET', '/admin/reports'), 403, 'moderator_only');
  });
});

describe('a suspended user can do nothing anywhere', () => {
  it('every authenticated route of the API answers 403 account_suspended', async () => {
    await ctx.moderation.act(admin.id, bad.username, 'suspend', 'test');
    const routes = app.routeTable.filter((r) => r.auth !== 'none');
    assert.ok(routes.length > 40);
    for (const r of routes) {
      const path = r.url
        .replace(':username', user.username)
        .replace(/:[a-z_]+/g, '0190a000-0000-7000-8000-000000000000');
      const res = await app.inject({
        method: r.method,
        url: path,
        headers: bad.auth,
        ...(r.body ? { payload: {} } : {}),
      });
      assertProblem(res, 403, 'account_suspended');
    }
  });
});
