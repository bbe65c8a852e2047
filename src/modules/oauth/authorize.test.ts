import { describe, it, before, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import type { App } from '../../http/types.ts';
import { createTestApp } from '../../../test/support/harness.ts';
import { createAccount, type Account } from '../../../test/support/factories.ts';
import {
  authorizeInBrowser,
  authorizePath,
  Browser,
  hiddenFields,
  injectTransport,
} from '../../../test/support/oauth.ts';
import {
  OOB,
  REDIRECT,
  registerApp,
  tokenRequest,
  type RegisteredApp,
} from '../../../test/support/oauth-apps.ts';

const LOGINS_PER_ACCOUNT = 3;
let app: App;
let client: RegisteredApp;
before(async () => {
  ({ app } = await createTestApp({
    env: { RATE_LIMIT_LOGIN_PER_ACCOUNT: String(LOGINS_PER_ACCOUNT) },
  }));
  client = await registerApp(app, {
    client_name: '<b>Evil</b> & "co"',
    website: 'https://x.example/"><script>',
  });
});

const browser = () => new Browser(injectTransport(app));
const request = (extra: Partial<Parameters<typeof authorizePath>[0]> = {}) => ({
  clientId: client.client_id,
  redirectUri: REDIRECT,
  state: 'st@te/1',
  ...extra,
});

describe('GET /oauth/authorize', () => {
  it('shows a login form with the app and the scopes asked, escaped, and sets the CSRF cookie', async () => {
    const b = browser();
    const page = await b.get(authorizePath(request({ scope: 'read write' })));
    assert.equal(page.status, 200);
    assert.match(page.text, /name="password"/);
    assert.match(page.text, /&lt;b&gt;Evil&lt;\/b&gt; &amp; &quot;co&quot;/);
    assert.ok(!page.text.includes('<script>'));
    assert.match(page.text, /<li><code>read<\/code><\/li><li><code>write<\/code><\/li>/);
    assert.ok(b.cookies.has('kith_oauth_csrf'));
    assert.match(hiddenFields(page.text).csrf_token!, /^[A-Za-z0-9_-]{43}$/);
    const res = await app.inject({ url: authorizePath(request()) });
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.equal(res.headers['cross-origin-opener-policy'], 'unsafe-none');
    assert.doesNotMatch(res.headers['content-security-policy'] as string, /form-action/);
  });

  for (const [what, extra, message] of [
    ['an unknown client', { clientId: 'nobody' }, /client_id/],
    [
      'an unregistered redirect_uri',
      { redirectUri: 'https://attacker.example/cb' },
      /redirect_uri/,
    ],
    [
      'a prefix of a registered redirect_uri',
      { redirectUri: 'https://client.example/call' },
      /redirect_uri/,
    ],
    ['an unknown scope', { scope: 'read mind' }, /not known/],
    ['a scope beyond the app', { scope: 'push' }, /exceed/],
  ] as const) {
    it(`answers ${what} with an error page, never a redirect`, async () => {
      const res = await app.inject({ url: authorizePath(request(extra)) });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.headers.location, undefined);
      assert.match(res.body, message);
    });
  }
});

describe('POST /oauth/authorize', () => {
  // Each sign-in spends the account's login budget (3 here): a fresh account per test.
  let alice: Account;
  beforeEach(async () => {
    alice = await createAccount(app);
  });

  it('signs in, asks for consent, and redirects with code and state', async () => {
    const { code, state } = await authorizeInBrowser(browser(), {
      ...request(),
      login: alice.username,
      password: alice.password,
    });
    assert.match(code, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(state, 'st@te/1');
  });

  it('re-shows the login form after a wrong password', async () => {
    const b = browser();
    const page = await b.get(authorizePath(request()));
    const wrong = await b.submit(page, { login: alice.username, password: 'not-it' });
    assert.equal(wrong.status, 401);
    assert.match(wrong.text, /not correct/);
    assert.match(wrong.text, /name="password"/);
    assert.ok(!b.cookies.has('kith_oauth_session'));
  });

  it("refuses a form without the CSRF token, with a wrong one, or with another browser's", async () => {
    const b = browser();
    const page = await b.get(authorizePath(request()));
    const form = { login: alice.username, password: alice.password };
    for (const csrf_token of ['', 'A'.repeat(43)]) {
      const res = await b.submit(
        {
          ...page,
          text: page.text.replace(
            /name="csrf_token" value="[^"]*"/,
            `name="csrf_token" value="${csrf_token}"`,
          ),
        },
        form,
      );
      assert.equal(res.status, 403, res.text);
    }
    // A page of another site posting its own visitor's token cannot bring this browser's cookie.
    const attacker = browser();
    const theirs = await attacker.get(authorizePath(request()));
    const res = await b.submit({ ...page, text: theirs.text }, form);
    assert.equal(res.status, 403);
    assert.ok(!b.cookies.has('kith_oauth_session'));
  });

  it('refuses a decision from a browser that has not signed in', async () => {
    const b = browser();
    const page = await b.get(authorizePath(request()));
    const res = await b.submit(page, { decision: 'authorize' });
    assert.equal(res.status, 401);
    assert.equal(res.location, undefined);
    assert.match(res.text, /name="password"/);
  });

  it('redirects a denial with error=access_denied and the state, and issues no code', async () => {
    const b = browser();
    const page = await b.get(authorizePath(request()));
    const consent = await b.submit(page, { login: alice.username, password: alice.password });
    const res = await b.submit(consent, { decision: 'deny' });
    assert.equal(res.status, 302);
    const location = new URL(res.location!);
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.equal(location.searchParams.get('state'), 'st@te/1');
    assert.equal(location.searchParams.get('code'), null);
  });

  it('remembers the sign-in for the next app, unless it asks force_login', async () => {
    const b = browser();
    await authorizeInBrowser(b, { ...request(), login: alice.username, password: alice.password });
    const again = await b.get(authorizePath(request()));
    assert.doesNotMatch(again.text, /name="password"/);
    assert.match(again.text, new RegExp(`@${alice.username}`));
    const forced = await b.get(authorizePath(request({ forceLogin: true })));
    assert.match(forced.text, /name="password"/);
  });

  it('shows the code for urn:ietf:wg:oauth:2.0:oob, and the code works', async () => {
    const { code } = await authorizeInBrowser(browser(), {
      ...request({ redirectUri: OOB }),
      login: alice.username,
      password: alice.password,
    });
    const res = await tokenRequest(app, {
      grant_type: 'authorization_code',
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uri: OOB,
      code,
    });
    assert.equal(res.statusCode, 200, res.body);
  });

  it('counts sign-ins against the account like /auth/login: 429 once the budget is spent', async () => {
    const bob = await createAccount(app);
    const b = browser();
    const page = await b.get(authorizePath(request()));
    // On Redis, createAccount's own login spent one of the same budget; in memory each
    // limiter counts alone. Either way the budget is spent after LOGINS_PER_ACCOUNT tries.
    for (let i = 0; i < LOGINS_PER_ACCOUNT; i++) {
      const res = await b.submit(page, { login: bob.username, password: 'wrong' });
      assert.ok([401, 429].includes(res.status), res.text);
    }
    const limited = await b.submit(page, { login: bob.username, password: bob.password });
    assert.equal(limited.status, 429, limited.text);
    assert.match(limited.text, /Too many requests/);
    assert.ok(!b.cookies.has('kith_oauth_session'));
  });

  it('turns the password grant away while OAUTH_PASSWORD_GRANT is off (the default)', async () => {
    const res = await tokenRequest(app, {
      grant_type: 'password',
      client_id: client.client_id,
      client_secret: client.client_secret,
      username: alice.username,
      password: alice.password,
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'unsupported_grant_type');
  });
});
