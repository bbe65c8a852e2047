/**
 * OAuth sign-in as a browser does it: fetch `/oauth/authorize`, fill the login form, press
 * Authorize, follow the redirect to the app's `redirect_uri` and read `code` and `state` from
 * it; cookies (the sign-in and the CSRF cookie) kept between requests. Works over a real server
 * (`fetchTransport`) or `inject` (`injectTransport`).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { App } from '../../src/http/types.ts';

export interface BrowserResponse {
  status: number;
  location: string | undefined;
  setCookies: string[];
  text: string;
}
export type Transport = (
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string>,
  body?: string,
) => Promise<BrowserResponse>;

export function fetchTransport(base: string): Transport {
  return async (method, path, headers, body) => {
    const res = await fetch(new URL(path, base), {
      method,
      headers,
      redirect: 'manual',
      ...(body === undefined ? {} : { body }),
    });
    return {
      status: res.status,
      location: res.headers.get('location') ?? undefined,
      setCookies: res.headers.getSetCookie(),
      text: await res.text(),
    };
  };
}

export function injectTransport(app: App): Transport {
  return async (method, path, headers, body) => {
    const res = await app.inject({
      method,
      url: path,
      headers,
      ...(body ? { payload: body } : {}),
    });
    const cookies = res.headers['set-cookie'];
    return {
      status: res.statusCode,
      location: res.headers.location,
      setCookies: cookies === undefined ? [] : [cookies].flat(),
      text: res.body,
    };
  };
}

/** A PKCE verifier and its S256 challenge (RFC 7636). */
export function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const unescapeHtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, '`')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** The hidden fields of the page's form, as a browser would post them. */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [, name, value] of html.matchAll(
    /<input type="hidden" name="([^"]*)" value="([^"]*)">/g,
  )) {
    fields[unescapeHtml(name!)] = unescapeHtml(value!);
  }
  return fields;
}

/** A browser: a cookie jar over a transport. */
export class Browser {
  readonly cookies = new Map<string, string>();
  readonly #transport: Transport;

  constructor(transport: Transport) {
    this.#transport = transport;
  }

  async #send(method: 'GET' | 'POST', path: string, form?: Record<string, string>) {
    const headers: Record<string, string> = {};
    if (this.cookies.size > 0)
      headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (form) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await this.#transport(
      method,
      path,
      headers,
      form && new URLSearchParams(form).toString(),
    );
    for (const cookie of res.setCookies) {
      const [pair] = cookie.split(';');
      const eq = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
    return res;
  }

  get(path: string) {
    return this.#send('GET', path);
  }

  /** Posts the form of `page` with its hidden fields plus `extra`. */
  submit(page: BrowserResponse, extra: Record<string, string>) {
    return this.#send('POST', '/oauth/authorize', { ...hiddenFields(page.text), ...extra });
  }
}

export interface AuthorizeOptions {
  clientId: string;
  redirectUri: string;
  login: string;
  password: string;
  scope?: string;
  state?: string;
  codeChallenge?: string;
  codeChallengeMethod?: 'S256' | 'plain';
  forceLogin?: boolean;
}

/** The `/oauth/authorize?…` path of a request. */
export function authorizePath(o: Omit<AuthorizeOptions, 'login' | 'password'>): string {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: o.clientId,
    redirect_uri: o.redirectUri,
    ...(o.scope && { scope: o.scope }),
    ...(o.state && { state: o.state }),
    ...(o.codeChallenge && {
      code_challenge: o.codeChallenge,
      code_challenge_method: o.codeChallengeMethod ?? 'S256',
    }),
    ...(o.forceLogin && { force_login: 'true' }),
  });
  return `/oauth/authorize?${query.toString()}`;
}

/**
 * Signs in and authorizes as a browser would; the code from the redirect (or from the page,
 * for `urn:ietf:wg:oauth:2.0:oob`).
 */
export async function authorizeInBrowser(
  browser: Browser,
  o: AuthorizeOptions,
): Promise<{ code: string; state: string | null }> {
  let page = await browser.get(authorizePath(o));
  assert.equal(page.status, 200, page.text);
  if (page.text.includes('name="password"')) {
    page = await browser.submit(page, { login: o.login, password: o.password });
    assert.equal(page.status, 200, page.text);
  }
  const done = await browser.submit(page, { decision: 'authorize' });
  if (o.redirectUri === 'urn:ietf:wg:oauth:2.0:oob') {
    const code = /<code id="authorization-code">([^<]+)<\/code>/.exec(done.text)?.[1];
    assert.ok(code, done.text);
    return { code, state: null };
  }
  assert.equal(done.status, 302, done.text);
  assert.ok(done.location?.startsWith(`${o.redirectUri.split('?')[0]}?`), done.location);
  const location = new URL(done.location!);
  const code = location.searchParams.get('code');
  assert.ok(code, done.location);
  return { code, state: location.searchParams.get('state') };
}
