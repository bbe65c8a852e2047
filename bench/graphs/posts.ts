/**
 * The posts a graph's users compose while it is loaded, as DeathStarBench's
 * init_social_graph.py builds them: 0..postsMax per user, each 256 random characters plus 0-5
 * `@username_N` mentions, 0-5 URLs and 0-5 media ids (18 digits, type png).
 */
import { prng } from '../../src/cli/seed-data.ts';

export type Random = () => number;
/** Lua's math.random(lo, hi): an integer in [lo, hi]. */
export const between = (random: Random, lo: number, hi: number): number =>
  lo + Math.floor(random() * (hi - lo + 1));
const CHARSET = 'qwertyuiopasdfghjklzxcvbnmQWERTYUIOPASDFGHJKLZXCVBNM1234567890';
export const chars = (random: Random, n: number, set = CHARSET): string =>
  Array.from({ length: n }, () => set[Math.floor(random() * set.length)]).join('');

export interface LoaderPost {
  user: number;
  /** The text with its mentions and URLs. */
  text: string;
  mediaIds: string[];
}

export function loaderPosts(users: number, postsMax: number, seed: number): LoaderPost[] {
  const random = prng(seed);
  const posts: LoaderPost[] = [];
  for (let user = 0; user < users; user++) {
    for (let p = between(random, 0, postsMax); p > 0; p--) {
      let text = chars(random, 256);
      for (let i = between(random, 0, 5); i > 0; i--)
        text += ` @username_${between(random, 0, users - 1)}`;
      for (let i = between(random, 0, 5); i > 0; i--)
        text += ` http://${chars(random, 64, 'abcdefghijklmnopqrstuvwxyz0123456789')}`;
      const mediaIds = Array.from({ length: between(random, 0, 5) }, () =>
        chars(random, 18, '0123456789'),
      );
      posts.push({ user, text, mediaIds });
    }
  }
  return posts;
}

/** The form init_social_graph.py posts to /wrk2-api/post/compose (encoded by aiohttp). */
export const composeForm = (p: LoaderPost): string =>
  new URLSearchParams({
    username: `username_${p.user}`,
    user_id: `${p.user}`,
    text: p.text,
    media_ids: `[${p.mediaIds.map((m) => `"${m}"`).join(',')}]`,
    media_types: `[${p.mediaIds.map(() => '"png"').join(',')}]`,
    post_type: '0',
  }).toString();
