import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { App } from '../../http/types.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import {
  createAccount,
  login,
  newUser,
  uniqueUsername,
  type Account,
} from '../../../test/support/factories.ts';
import { assertInvalid, assertProblem } from '../../../test/support/problems.ts';
import { api } from '../../../test/support/api.ts';

const API = '/api/v1';
const ME_KEYS =
  'avatar_url bio created_at display_name dm_policy dob email email_verified follower_count following_count friend_count header_url id post_count updated_at username'.split(
    ' ',
  );
const PUBLIC_KEYS =
  'avatar_url bio created_at display_name follower_count following_count friend_count header_url id post_count username'.split(
    ' ',
  );

interface PublicUser {
  id: string;
  username: string;
  display_name: string;
  bio: string;
  created_at: string;
}
interface Page {
  items: PublicUser[];
  next_cursor: string | null;
}

function assertUnauthorized(res: LightMyRequestResponse, code = 'unauthorized') {
  assertProblem(res, 401, code);
  assert.equal(res.headers['www-authenticate'], 'Bearer');
}

let app: App;
before(async () => {
  ({ app } = await createTestApp());
});

const { call, ok } = api(() => app);
const getMe = (a: Account) => call('GET', '/me', a);
const patchMe = (a: Account | null, payload: object) => call('PATCH', '/me', a, payload);
const getUser = (name: string) => call('GET', `/users/${name}`);
const search = (query: string) => call('GET', `/users?${query}`);
const refresh = (token: string) => call('POST', '/auth/refresh', null, { refresh_token: token });

/** Registers without logging in (cheaper, and keeps login attempts out of the way). */
async function register(username: string) {
  await ok(call('POST', '/auth/register', null, newUser({ username })), 201);
}

describe('GET /me', () => {
  it('returns the private account, without the password hash', async () => {
    const a = await createAccount(app, { dob: '2001-02-03' });
    const res = await getMe(a);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<Record<string, unknown>>();
    assert.deepEqual(Object.keys(body).sort(), ME_KEYS);
    assert.equal(body.id, a.id);
    assert.equal(body.username, a.username);
    assert.equal(body.email, a.email);
    assert.equal(body.dob, '2001-02-03');
    assert.doesNotMatch(res.body, /password|\$2[aby]\$/);
  });

  it('requires a token', async () => {
    assertUnauthorized(await call('GET', '/me'));
  });
});

describe('PATCH /me', () => {
  it('updates display name and bio, trimmed, and keeps them', async () => {
    const a = await createAccount(app);
    const res = await patchMe(a, { display_name: '  Ana Bé  ', bio: '  line one\r\nline two \n' });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ display_name: string; bio: string; email: string }>();
    assert.equal(body.display_name, 'Ana Bé');
    assert.equal(body.bio, 'line one\nline two');
    assert.equal(body.email, a.email);
    const again = (await getMe(a)).json<{ display_name: string; bio: string }>();
    assert.equal(again.display_name, 'Ana Bé');
    assert.equal(again.bio, 'line one\nline two');
  });

  it('changes only the fields given', async () => {
    const a = await createAccount(app);
    await patchMe(a, { display_name: 'First', bio: 'Kept bio' });
    const res = await patchMe(a, { display_name: 'Second' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json<{ bio: string }>().bio, 'Kept bio');
  });

  it('accepts the limits: 50-character name, 500-character bio', async () => {
    const a = await createAccount(app);
    const res = await patchMe(a, { display_name: 'n'.repeat(50), bio: 'b'.repeat(500) });
    assert.equal(res.statusCode, 200, res.body);
  });

  const invalid: [string, object, string][] = [
    ['a display name over 50 characters', { display_name: 'n'.repeat(51) }, '/display_name'],
    ['a blank display name', { display_name: ' \t ' }, '/display_name'],
    ['a multi-line display name', { display_name: 'a\nb' }, '/display_name'],
    ['a bio over 500 characters', { bio: 'b'.repeat(501) }, '/bio'],
    ['a bio with a control character', { bio: 'hi\u0000' }, '/bio'],
  ];
  for (const [name, payload, path] of invalid) {
    it(`rejects ${name} and changes nothing`, async () => {
      const a = await createAccount(app);
      assertInvalid(await patchMe(a, payload), path);
      const me = (await getMe(a)).json<{ display_name: string; bio: string }>();
      assert.equal(me.display_name, a.username);
      assert.equal(me.bio, '');
    });
  }

  it('requires a token', async () => {
    assertUnauthorized(await patchMe(null, { bio: 'x' }));
  });

  it("never changes another user's profile", async () => {
    const a = await createAccount(app);
    const b = await createAccount(app);
    const res = await patchMe(a, { display_name: 'Only A', bio: 'A bio' });
    assert.equal(res.statusCode, 200, res.body);
    const other = (await getUser(b.username)).json<PublicUser>();
    assert.equal(other.display_name, b.username);
    assert.equal(other.bio, '');
    assert.equal((await getUser(a.username)).json<PublicUser>().display_name, 'Only A');
  });
});

describe('POST /me/password', () => {
  const change = (a: Account | null, payload: object) => call('POST', '/me/password', a, payload);

  it('refuses a wrong current password with 403 and keeps the old one', async () => {
    const a = await createAccount(app);
    const res = await change(a, { current_password: 'not-my-password', new_password: 'n3w-pass!' });
    assertProblem(res, 403, 'wrong_password');
    await login(app, a.username, a.password);
  });

  for (const [name, pw] of [
    ['too short', 'short12'],
    ['over 72 bytes', '€'.repeat(25)],
  ] as const) {
    it(`rejects a new password ${name} at /new_password`, async () => {
      const a = await createAccount(app);
      assertInvalid(
        await change(a, { current_password: a.password, new_password: pw }),
        '/new_password',
      );
      await login(app, a.username, a.password);
    });
  }

  it('changes the password and ends every other session', async () => {
    const a = await createAccount(app);
    const other = await login(app, a.username, a.password);
    const res = await change(a, { current_password: a.password, new_password: 'brand-new-secret' });
    assert.equal(res.statusCode, 204, res.body);
    assert.equal(res.body, '');

    const old = await call('POST', '/auth/login', null, {
      login: a.username,
      password: a.password,
    });
    assertProblem(old, 401, 'invalid_credentials');
    await login(app, a.username, 'brand-new-secret');

    assertUnauthorized(await refresh(other.refresh_token), 'refresh_token_revoked');
    const own = await refresh(a.refreshToken);
    assert.equal(own.statusCode, 200, own.body);
  });

  it('requires a token', async () => {
    assertUnauthorized(await change(null, { current_password: 'x', new_password: 'long-enough' }));
  });
});

describe('GET /users/{username}', () => {
  it('returns the public profile only, whatever the case asked for', async () => {
    const a = await createAccount(app, { username: uniqueUsername('pub') });
    for (const name of [a.username, a.username.toUpperCase()]) {
      const res = await getUser(name);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json<Record<string, unknown>>();
      assert.deepEqual(Object.keys(body).sort(), PUBLIC_KEYS);
      assert.equal(body.id, a.id);
      assert.equal(body.username, a.username);
    }
  });

  it('answers an unknown user with 404 user_not_found', async () => {
    assertProblem(await getUser(uniqueUsername('nobody')), 404, 'user_not_found');
  });
});

describe('GET /users?q=', () => {
  const names = (res: LightMyRequestResponse) => res.json<Page>().items.map((u) => u.username);

  it('finds users by prefix, case-insensitively', async () => {
    const p = uniqueUsername('px');
    for (const n of ['a1', 'a2', 'b1']) await register(`${p}${n}`);
    await register(uniqueUsername('px'));
    const res = await search(`q=${p}a`);
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(names(res), [`${p}a1`, `${p}a2`]);
    assert.equal(res.json<Page>().next_cursor, null);
    assert.equal(res.headers.link, undefined);
    assert.deepEqual(names(await search(`q=${p.toUpperCase()}`)), [`${p}a1`, `${p}a2`, `${p}b1`]);
  });

  it('treats _ and % in q literally', async () => {
    const p = uniqueUsername('lit');
    await register(`${p}ab_x`);
    await register(`${p}abcx`);
    assert.deepEqual(names(await search(`q=${p}ab_`)), [`${p}ab_x`]);
    assert.deepEqual(names(await search(`q=${encodeURIComponent(`${p}%`)}`)), []);
  });

  it('walks every match exactly once with keyset pages, including users added meanwhile', async () => {
    const p = uniqueUsername('pg');
    const initial = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'].map((s) => `${p}${s}`);
    for (const n of initial) await register(n);

    const seen: string[] = [];
    let url: string | null = `${API}/users?q=${p}&limit=2`;
    let pages = 0;
    while (url) {
      const res: LightMyRequestResponse = await call('GET', url);
      assert.equal(res.statusCode, 200, res.body);
      const page = res.json<Page>();
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((u) => u.username));
      pages += 1;
      if (pages === 1) {
        // One before the position (must not appear), two after it (must appear).
        for (const s of ['u0', 'u5a', 'u9']) await register(`${p}${s}`);
      }
      if (page.next_cursor === null) {
        assert.equal(res.headers.link, undefined);
        url = null;
      } else {
        const link = /^<([^>]+)>; rel="next"$/.exec(String(res.headers.link));
        assert.ok(link, `link header: ${String(res.headers.link)}`);
        const next = new URL(link[1]!, 'http://x');
        assert.equal(next.pathname, `${API}/users`);
        assert.equal(next.searchParams.get('cursor'), page.next_cursor);
        assert.equal(next.searchParams.get('limit'), '2');
        assert.equal(next.searchParams.get('q'), p);
        url = link[1]!;
      }
      assert.ok(pages < 20, 'pagination does not end');
    }
    const expected = [...initial, `${p}u5a`, `${p}u9`].sort();
    assert.deepEqual(seen, expected);
    assert.equal(pages, 5);
  });

  for (const limit of ['0', '101', 'abc']) {
    it(`rejects limit=${limit} with 400`, async () => {
      const body = assertInvalid(await search(`q=a&limit=${limit}`), '/limit');
      assert.equal(body.errors?.[0]?.in, 'query');
    });
  }

  for (const [name, cursor] of [
    ['not base64 JSON', 'not-a-cursor!!'],
    ['JSON of the wrong shape', Buffer.from('{"x":1}').toString('base64url')],
  ] as const) {
    it(`rejects a cursor that is ${name} with 400 invalid_cursor`, async () => {
      assertProblem(await search(`q=a&cursor=${cursor}`), 400, 'invalid_cursor');
    });
  }
});
