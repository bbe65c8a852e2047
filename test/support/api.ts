/**
 * The API requests module tests make, through `inject`. `api(app)` takes the app or a getter
 * for it, so a file that assigns `app` in `before()` can build its helpers at load time:
 *
 *   let app: App;
 *   before(async () => ({ app } = await createTestApp()));
 *   const { call, ok, accounts, befriend } = api(() => app);
 *
 * Paths are written under /api/v1 (`/posts`), unless they are already full (`/api/...`) or a
 * root path (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`, `/docs`). `who` is an account
 * (its `auth` headers) or nothing (anonymous).
 */
import assert from 'node:assert/strict';
import type { HTTPMethods, LightMyRequestResponse } from 'fastify';
import { API_PREFIX, type App } from '../../src/http/types.ts';
import { createAccount, newUser, uniqueUsername, type Account } from './factories.ts';
import { callServer } from './http-client.ts';

export type Res = LightMyRequestResponse;
export type Who = { auth: Record<string, string> } | null | undefined;
export type Page<T> = { items: T[]; next_cursor: string | null };

/** `n` accounts, as a tuple type: `const [a, b] = await accounts(2)`. */
export type Accounts<N extends number, T extends Account[] = []> = T['length'] extends N
  ? T
  : Accounts<N, [...T, Account]>;

const ROOT = /^\/(healthz|readyz|metrics|openapi\.json|docs)(\/|\?|$)/;
/** The URL of a path as tests write it: under /api/v1 unless full or a root path. */
export const apiUrl = (path: string) =>
  path.startsWith('/api/') || ROOT.test(path) ? path : API_PREFIX + path;

/** Asserts the response answered `status` (its method, URL and body in the message); returns it. */
export function expectStatus(res: Res, status = 200): Res {
  assert.equal(res.statusCode, status, `${res.raw.req.method} ${res.raw.req.url}: ${res.body}`);
  return res;
}

/** Asserts the response answered `status`; returns its parsed JSON body (undefined if empty). */
export async function ok<T = Record<string, unknown>>(
  res: Res | Promise<Res>,
  status = 200,
): Promise<T> {
  const r = expectStatus(await res, status);
  return (r.body ? r.json<T>() : undefined) as T;
}

/** Base64url of a JSON value: a cursor crafted by hand. */
export const cursorOf = (value: unknown) =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

export function api(app: App | (() => App)) {
  const get = typeof app === 'function' ? app : () => app;

  /** The request, as `who`; `body` is sent as is (objects as JSON), when given. */
  const call = (
    method: HTTPMethods,
    path: string,
    who?: Who,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Res> =>
    get().inject({
      method,
      url: apiUrl(path),
      headers: { ...who?.auth, ...headers },
      ...(body === undefined ? {} : { payload: body as string }),
    });

  /** `call` that must answer `status`: its parsed JSON body. */
  const json = <T = Record<string, unknown>>(
    method: HTTPMethods,
    path: string,
    who?: Who,
    body?: unknown,
    status = 200,
  ) => ok<T>(call(method, path, who, body), status);

  /** `n` new accounts, created one after another (so their ids ascend). */
  async function accounts<N extends number>(n: N): Promise<Accounts<N>> {
    const out: Account[] = [];
    for (let i = 0; i < n; i++) out.push(await createAccount(get()));
    return out as Accounts<N>;
  }

  /** New accounts by the names given: `const { a, b } = await users('a', 'b')`. */
  async function users<K extends string>(...names: K[]): Promise<Record<K, Account>> {
    const list: Account[] = await accounts(names.length);
    return Object.fromEntries(names.map((n, i) => [n, list[i]])) as Record<K, Account>;
  }

  /** `a` acts on `b` (`POST|DELETE /users/{b}/{edge}`), which must answer 200. */
  const edge = (method: 'POST' | 'DELETE', name: string) => (a: Account, b: Account) =>
    json(method, `/users/${b.username}/${name}`, a);

  /** `a` asks `b` to be friends and `b` accepts (the friend-request routes). */
  async function befriend(a: Account, b: Account) {
    const req = await json<{ id: string }>(
      'POST',
      `/users/${b.username}/friend-request`,
      a,
      undefined,
      201,
    );
    await json('POST', `/friend-requests/${req.id}/accept`, b);
  }

  /** `who` publishes a post (`body` as given, 'hello' by default), which must answer 201. */
  const post = <T = { id: string }>(who: Account, body: object = { text: 'hello' }) =>
    json<T>('POST', '/posts', who, body, 201);

  /** 'follower_count/following_count/friend_count' of each user, from the public profile. */
  async function counts(...users: Account[]): Promise<string[]> {
    const out: string[] = [];
    for (const u of users) {
      const p = await json<Record<string, number>>('GET', `/users/${u.username}`);
      out.push(`${p.follower_count}/${p.following_count}/${p.friend_count}`);
    }
    return out;
  }

  /** The names of the relationship flags that are true for `a` towards `b`, sorted. */
  async function flags(a: Account, b: Account): Promise<string[]> {
    const res = expectStatus(await call('GET', `/relationships?users=${b.username}`, a));
    const [rel, ...rest] = res.json<{ items: Record<string, unknown>[] }>().items;
    assert.ok(rel && rest.length === 0, res.body);
    assert.equal(rel.username, b.username);
    return Object.keys(rel)
      .filter((k) => rel[k] === true)
      .sort();
  }

  return {
    call,
    json,
    ok,
    accounts,
    users,
    follow: edge('POST', 'follow'),
    unfollow: edge('DELETE', 'follow'),
    block: edge('POST', 'block'),
    unblock: edge('DELETE', 'block'),
    mute: edge('POST', 'mute'),
    unmute: edge('DELETE', 'mute'),
    befriend,
    post,
    counts,
    flags,
  };
}

/** A user of a real server (another process), as `signUpOn` returns it. */
export type ServerUser = { id: string; username: string; token: string };

/** Registers and logs in a new user on the real server at `base` (over HTTP, not `inject`). */
export async function signUpOn(base: string, prefix = 'user'): Promise<ServerUser> {
  const user = newUser({ username: uniqueUsername(prefix) });
  const reg = await callServer(base, 'POST', `${API_PREFIX}/auth/register`, user);
  assert.equal(reg.status, 201, reg.text);
  const login = { login: user.username, password: user.password };
  const session = await callServer(base, 'POST', `${API_PREFIX}/auth/login`, login);
  assert.equal(session.status, 200, session.text);
  return { id: reg.json().id!, username: user.username, token: session.json().access_token! };
}
