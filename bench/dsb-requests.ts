/**
 * The requests of DeathStarBench's wrk2 scripts (mixed-workload.lua, read-home-timeline.lua,
 * read-user-timeline.lua, compose-post.lua) as they build them: absolute URL in the request
 * line, unencoded form bodies, user ids 1..max_user_index, windows [start, start + 10) with
 * start 0-100, 256 random characters with 1-6 mentions, 1-6 URLs and 1-5 media on compose.
 */
import type { RequestTemplate } from './autocannon-runner.ts';
import { between, chars, type Random } from './graphs/posts.ts';
import { prng } from './seed.ts';

export const FORM = 'application/x-www-form-urlencoded';
/** The origin DSB's scripts write into every request line. */
const SCRIPT_ORIGIN = 'http://localhost:8080';
/** mixed-workload.lua's shares. */
export const MIX = { home: 0.6, user: 0.3, compose: 0.1 };

/** The three requests of mixed-workload.lua, unencoded, with its absolute URLs. */
export function scriptRequests(maxUserIndex: number, random: Random) {
  const read = (kind: 'home' | 'user'): RequestTemplate => {
    const userId = between(random, 1, maxUserIndex);
    const start = between(random, 0, 100);
    return {
      method: 'GET',
      path: `${SCRIPT_ORIGIN}/wrk2-api/${kind}-timeline/read?user_id=${userId}&start=${start}&stop=${start + 10}`,
    };
  };
  const compose = (): RequestTemplate => {
    const user = between(random, 1, maxUserIndex);
    let body = chars(random, 256);
    // `for i = 0, n` runs n + 1 times: 1-6 mentions, 1-6 urls, 1-5 media.
    for (let i = between(random, 0, 5); i >= 0; i--) {
      let mentioned: number;
      do mentioned = between(random, 1, maxUserIndex);
      while (mentioned === user);
      body += ` @username_${mentioned}`;
    }
    for (let i = between(random, 0, 5); i >= 0; i--) body += ` http://${chars(random, 64)}`;
    const media = Array.from({ length: between(random, 0, 4) + 1 }, () =>
      chars(random, 18, '1234567890'),
    );
    return {
      method: 'POST',
      path: `${SCRIPT_ORIGIN}/wrk2-api/post/compose`,
      contentType: FORM,
      body:
        `username=username_${user}&user_id=${user}&text=${body}` +
        `&media_ids=[${media.map((m) => `"${m}"`).join(',')}]` +
        `&media_types=[${media.map(() => '"png"').join(',')}]&post_type=0`,
    };
  };
  return { home: () => read('home'), user: () => read('user'), compose };
}

export type Kind = 'mix' | 'home' | 'user' | 'compose';
export const LABELS: Record<Kind, string> = {
  mix: 'Mixed workload (60 % home-timeline reads, 30 % user-timeline reads, 10 % compose)',
  home: 'Home-timeline reads (read-home-timeline.lua)',
  user: 'User-timeline reads (read-user-timeline.lua)',
  compose: 'Compose post (compose-post.lua)',
};

export function requestLists(
  maxUserIndex: number,
  listLength: number,
  seed: number,
): Record<Kind, RequestTemplate[]> {
  const make = (
    seed: number,
    draw: (r: ReturnType<typeof scriptRequests>, coin: number) => RequestTemplate,
  ) => {
    const random = prng(seed);
    const r = scriptRequests(maxUserIndex, random);
    return Array.from({ length: listLength }, () => draw(r, random()));
  };
  return {
    mix: make(seed + 1, (r, coin) =>
      coin < MIX.home ? r.home() : coin < MIX.home + MIX.user ? r.user() : r.compose(),
    ),
    home: make(seed + 2, (r) => r.home()),
    user: make(seed + 3, (r) => r.user()),
    compose: make(seed + 4, (r) => r.compose()),
  };
}
