/** Registering OAuth apps and obtaining tokens through `inject`, for the OAuth suites. */
import assert from 'node:assert/strict';
import type { App } from '../../src/http/types.ts';
import type { Account } from './factories.ts';
import { authorizeInBrowser, Browser, injectTransport, pkcePair } from './oauth.ts';

export const REDIRECT = 'https://client.example/callback';
export const OOB = 'urn:ietf:wg:oauth:2.0:oob';

export interface RegisteredApp {
  id: string;
  client_id: string;
  client_secret: string;
  scopes: string[];
  redirect_uri: string;
  redirect_uris: string[];
}

export async function registerApp(
  app: App,
  body: Record<string, unknown> = {},
): Promise<RegisteredApp> {
  const res = await app.inject({
    method: 'POST',
    url: '/api/v1/apps',
    payload: {
      client_name: 'Test client',
      redirect_uris: `${REDIRECT}\n${OOB}`,
      scopes: 'read write follow',
      ...body,
    },
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json();
}

/** POST /oauth/token with a JSON body (or form when `form` is set). */
export function tokenRequest(
  app: App,
  body: Record<string, string>,
  opts: { form?: boolean; headers?: Record<string, string> } = {},
) {
  return app.inject({
    method: 'POST',
    url: '/oauth/token',
    headers: {
      'content-type': opts.form ? 'application/x-www-form-urlencoded' : 'application/json',
      ...opts.headers,
    },
    payload: opts.form ? new URLSearchParams(body).toString() : JSON.stringify(body),
  });
}

/** A code the user granted to `client` through the authorize page (PKCE S256 unless told). */
export async function grantCode(
  app: App,
  client: RegisteredApp,
  user: Account,
  opts: { scope?: string; pkce?: boolean; redirectUri?: string } = {},
) {
  const pkce = opts.pkce === false ? undefined : pkcePair();
  const { code } = await authorizeInBrowser(new Browser(injectTransport(app)), {
    clientId: client.client_id,
    redirectUri: opts.redirectUri ?? REDIRECT,
    login: user.username,
    password: user.password,
    state: 'xyz',
    ...(opts.scope && { scope: opts.scope }),
    ...(pkce && { codeChallenge: pkce.challenge }),
  });
  return { code, verifier: pkce?.verifier };
}

/** An OAuth access token of `user` for `client`, through the whole browser flow. */
export async function userToken(app: App, client: RegisteredApp, user: Account, scope?: string) {
  const { code, verifier } = await grantCode(app, client, user, scope ? { scope } : {});
  const res = await tokenRequest(app, {
    grant_type: 'authorization_code',
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uri: REDIRECT,
    code,
    code_verifier: verifier!,
  });
  assert.equal(res.statusCode, 200, res.body);
  return res.json<{ access_token: string; scope: string }>().access_token;
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
