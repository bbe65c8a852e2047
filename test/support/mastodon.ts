/** Requests to the Mastodon API through `inject`, as its tests make them. */
import assert from 'node:assert/strict';
import type { App } from '../../src/http/types.ts';
import type { Res } from './api.ts';

/** Mastodon's flavour of the paths kith shares with it (kith's own tokens are JWTs). */
export const MASTODON_HEADERS = { 'kith-flavour': 'mastodon' };

/**
 * `call` as `who` (kith's token and `Kith-Flavour: mastodon`), with a URL as a `Link` header
 * gives it (absolute) or a path; `ok` for a 200 and its JSON; `fails` for an error and its text.
 */
export function mastodonApi(app: App | (() => App)) {
  const get = typeof app === 'function' ? app : () => app;
  const call = (
    who: { auth: Record<string, string> } | null,
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    payload?: object,
    headers: Record<string, string> = {},
  ) =>
    get().inject({
      method,
      url: url.replace(/^http:\/\/localhost(:80)?/, ''),
      headers: { ...who?.auth, ...MASTODON_HEADERS, ...headers },
      ...(payload ? { payload } : {}),
    });
  async function ok<T = Record<string, unknown>>(res: Promise<Res>): Promise<T> {
    const r = await res;
    assert.equal(r.statusCode, 200, r.body);
    return r.json<T>();
  }
  async function fails(res: Promise<Res>, status: number, error?: RegExp): Promise<void> {
    const r = await res;
    assert.equal(r.statusCode, status, r.body);
    if (error) assert.match(r.json<{ error: string }>().error, error);
  }
  return { call, ok, fails };
}
