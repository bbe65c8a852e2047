/**
 * Loads a graph into a running kith the way a client would, through its HTTP API, `parallel`
 * requests at a time: through the DeathStarBench routes as init_social_graph.py does, or
 * through kith's own API (register, login, follow, POST /api/v1/posts). Each phase is timed,
 * and the fan-out lag of the posts composed while loading is read from kith's histogram.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { drain } from '../../test/support/drain.ts';
import { fmt } from '../lib.ts';
import type { KithUnderTest } from '../stack.ts';
import type { Graph } from './graph.ts';
import { lagBetween, lagSnapshot, type LagStats } from './lag.ts';
import { composeForm, type LoaderPost } from './posts.ts';

/** init_social_graph.py and wrk2 keep this many requests in flight (issue 18: 64). */
export const LOAD_PARALLEL = 64;
const FORM = 'application/x-www-form-urlencoded';
const PASSWORD = 'bench-password-123';

export interface Loaded {
  /** Seconds per phase: register, follow, compose, fan-out drained (after the last compose). */
  seconds: Record<string, number>;
  totalSeconds: number;
  posts: number;
  /** Posts composed per second while loading. */
  composePerSec: number;
  /** Fan-out lag of the posts composed while loading. */
  lag: LagStats;
}

/** Runs `fn` over `items` with at most `width` in flight. */
export async function pool<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/**
 * One loader request; returns the body. 503s (load shedding, or a request that outlived kith's
 * request timeout while the loader floods it) are retried for up to 2 min; any other failure
 * throws. A registration retried after a 503 may find its first attempt committed after all:
 * `doneOn409` says which conflict means "already done".
 */
async function send(
  url: string,
  init: RequestInit,
  doneOn409: (body: string) => boolean = () => false,
): Promise<string> {
  // Long: on a shared 2-core machine, 64 registrations at once (bcrypt) can starve for a while.
  const deadline = Date.now() + 120_000;
  for (let retried = false; ; retried = true) {
    const res = await fetch(url, init);
    const body = await res.text();
    if (res.ok || (retried && res.status === 409 && doneOn409(body))) return body;
    if (res.status !== 503 || Date.now() > deadline)
      throw new Error(`${init.method ?? 'GET'} ${url}: ${res.status} ${body.slice(0, 300)}`);
    await delay(250);
  }
}

/** One DSB request: a form POST, or a GET. */
export const dsbCall = (
  kith: KithUnderTest,
  path: string,
  form?: string,
  doneOn409?: (body: string) => boolean,
): Promise<string> =>
  send(
    kith.url + path,
    {
      method: form === undefined ? 'GET' : 'POST',
      headers: { 'content-type': FORM },
      ...(form === undefined ? {} : { body: form }),
    },
    doneOn409,
  );

/** One JSON request to kith's API (`path` under /api/v1), as `token` if given. */
async function apiPost<T>(
  kith: KithUnderTest,
  path: string,
  body: unknown,
  token?: string,
  doneOn409?: (body: string) => boolean,
) {
  const text = await send(
    `${kith.url}/api/v1${path}`,
    {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify(body),
    },
    doneOn409,
  );
  return JSON.parse(text) as T;
}

interface Steps {
  register: (user: number) => Promise<unknown>;
  follow: (pair: [number, number]) => Promise<unknown>;
  compose: (post: LoaderPost) => Promise<unknown>;
}

async function loadWith(
  kith: KithUnderTest,
  graph: Graph,
  posts: readonly LoaderPost[],
  steps: Steps,
  parallel: number,
): Promise<Loaded> {
  const seconds: Record<string, number> = {};
  const timed = async (what: string, fn: () => Promise<void>) => {
    const t = performance.now();
    await fn();
    seconds[what] = (performance.now() - t) / 1000;
    console.log(`${graph.name} graph, ${what}: ${fmt(seconds[what], 1)} s`);
  };
  const started = performance.now();
  const users = Array.from({ length: graph.users }, (_, i) => i);
  await timed('register', () => pool(users, parallel, steps.register));
  await timed('follow', () => pool(graph.follows, parallel, steps.follow));
  const before = await lagSnapshot(kith.ctx);
  await timed('compose', () => pool(posts, parallel, steps.compose));
  await timed('fan-out drained', () => drain(kith.ctx, 600_000));
  const lag = lagBetween(before, await lagSnapshot(kith.ctx));
  return {
    seconds,
    totalSeconds: (performance.now() - started) / 1000,
    posts: posts.length,
    composePerSec: posts.length / Math.max(1e-9, seconds.compose!),
    lag,
  };
}

/** As init_social_graph.py: register, follow along every edge by name, compose. */
export function loadThroughDsb(
  kith: KithUnderTest,
  graph: Graph,
  posts: readonly LoaderPost[],
  parallel = LOAD_PARALLEL,
): Promise<Loaded> {
  return loadWith(
    kith,
    graph,
    posts,
    {
      register: (i) =>
        dsbCall(
          kith,
          '/wrk2-api/user/register',
          new URLSearchParams({
            first_name: `first_name_${i}`,
            last_name: `last_name_${i}`,
            username: `username_${i}`,
            password: `password_${i}`,
            user_id: `${i}`,
          }).toString(),
          // Only a user id already mapped is done: a bare account (username taken) lacks its id.
          (body) => body.includes('user_id'),
        ),
      follow: ([a, b]) =>
        dsbCall(
          kith,
          '/wrk2-api/user/follow',
          `user_name=username_${a}&followee_name=username_${b}`,
        ),
      compose: (p) => dsbCall(kith, '/wrk2-api/post/compose', composeForm(p)),
    },
    parallel,
  );
}

/**
 * Through kith's own API: each user registers and logs in (bcrypt at the production cost),
 * follows by username, and composes its posts (the text with its mentions and URLs; kith posts
 * carry no media ids). Resolves with every user's access token too.
 */
export async function loadThroughApi(
  kith: KithUnderTest,
  graph: Graph,
  posts: readonly LoaderPost[],
  parallel = LOAD_PARALLEL,
): Promise<Loaded & { tokens: string[] }> {
  const tokens: string[] = new Array<string>(graph.users);
  const loaded = await loadWith(
    kith,
    graph,
    posts,
    {
      register: async (i) => {
        const username = `username_${i}`;
        // The login below proves a registration that answered 409 on its retry is complete.
        await apiPost(
          kith,
          '/auth/register',
          { username, email: `${username}@bench.invalid`, password: PASSWORD, dob: '1990-01-01' },
          undefined,
          () => true,
        );
        const session = await apiPost<{ access_token: string }>(kith, '/auth/login', {
          login: username,
          password: PASSWORD,
        });
        tokens[i] = session.access_token;
      },
      follow: ([a, b]) => apiPost(kith, `/users/username_${b}/follow`, {}, tokens[a]),
      compose: (p) => apiPost(kith, '/posts', { text: p.text }, tokens[p.user]),
    },
    parallel,
  );
  return { ...loaded, tokens };
}
