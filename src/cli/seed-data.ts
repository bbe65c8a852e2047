/**
 * The demo social graph of `kith seed`, generated in memory: pure and deterministic for a given
 * seed (only the ids, made by the caller, differ between runs). Users are numbered 0..n-1;
 * every counter the database keeps is computed here from the rows themselves.
 */

export interface SeedParams {
  readonly users: number;
  /** Mean posts per user (exponentially spread: many post little, a few a lot). */
  readonly postsPerUser: number;
  readonly seed: number;
  /** Prepended to every username, so a second seeding does not collide with the first. */
  readonly prefix: string;
  /** Posts are spread over this many days before `now`. */
  readonly days: number;
  /** Milliseconds since the epoch that "now" is. */
  readonly now: number;
}

export interface SeedUser {
  readonly username: string;
  readonly displayName: string;
  readonly bio: string;
  readonly dob: string;
  readonly createdAt: number;
}

export interface SeedPost {
  readonly author: number;
  readonly text: string;
  readonly visibility: 'public' | 'followers' | 'friends';
  readonly createdAt: number;
}

export interface SeedData {
  readonly users: readonly SeedUser[];
  /** follower, followee, created at: flattened triples. Friendships are included both ways. */
  readonly follows: readonly number[];
  /** Friend pairs (a < b) with the time, flattened triples; stored both ways by the caller. */
  readonly friendships: readonly number[];
  readonly posts: readonly SeedPost[];
  /** post index, user, created at: flattened triples. */
  readonly likes: readonly number[];
  readonly comments: readonly { post: number; author: number; text: string; createdAt: number }[];
  readonly counts: {
    readonly posts: Int32Array;
    readonly followers: Int32Array;
    readonly following: Int32Array;
    readonly friends: Int32Array;
    readonly likes: Int32Array;
    readonly comments: Int32Array;
  };
}

const DAY = 86_400_000;
/** Mean accounts a user follows (log-normal spread), before friendships are added. */
const FOLLOW_MEDIAN = 12;
/** Mean friends per user; friends are drawn from a neighbourhood so they share friends. */
const FRIENDS_MEAN = 3;
const NEIGHBOURHOOD = 60;
/** Each follower who can see a post likes it with about this probability. */
const LIKE_RATE = 0.05;
const COMMENT_RATE = 0.01;

const FIRST =
  'ana ben cleo dan eva finn gia hugo ines jon kira leo mia noah olga paul quinn rosa sam tara uma vic wen xavi yara zoe amir bea carl dora eli fay gus hana ivan jade kai lina marc nora omar pia raul sara tom'.split(
    ' ',
  );
const LAST =
  'Silva Chen Okafor Novak Garcia Müller Rossi Kim Haddad Dubois Nowak Sato Jensen Costa Ivanova Brown Yilmaz Petrov Moreau Singh'.split(
    ' ',
  );
const LIKES =
  'coffee, running, jazz, old maps, sourdough, chess, cycling, film photography, tea, hiking, synths, poetry, board games, gardening, astronomy, climbing'.split(
    ', ',
  );
const OPENERS = [
  'Just finished',
  'Thinking about',
  'Anyone else into',
  'Loving',
  'Trying out',
  'Finally tried',
  'Can we talk about',
  'Weekend plans:',
  'Hot take on',
  'Learning',
];
const ENDINGS = [
  'today.',
  'again!',
  'and it was great.',
  '- recommendations welcome.',
  'with friends.',
  'for the first time.',
  'before work.',
  '🙂',
  'and I regret nothing.',
  'all week.',
];
const REPLIES = [
  'Love this!',
  'Same here.',
  'Great post.',
  'Tell me more!',
  'Haha, so true.',
  'Where was this?',
  'Count me in next time.',
  'Nice one 👏',
  'Agreed.',
  'Interesting, thanks for sharing.',
];

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export function generate(p: SeedParams): SeedData {
  const random = prng(p.seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
  const n = p.users;
  const windowStart = p.now - p.days * DAY;

  const users: SeedUser[] = [];
  for (let i = 0; i < n; i++) {
    const first = pick(FIRST);
    const last = pick(LAST);
    const year = new Date(p.now).getUTCFullYear() - 16 - int(50);
    const dob = `${year}-${String(1 + int(12)).padStart(2, '0')}-${String(1 + int(28)).padStart(2, '0')}`;
    users.push({
      username: `${p.prefix}${first}_${i + 1}`,
      displayName: `${first[0]!.toUpperCase()}${first.slice(1)} ${last}`,
      bio: `Into ${pick(LIKES)} and ${pick(LIKES)}.`,
      dob,
      // Everyone joined in the two months before the posting window.
      createdAt: windowStart - Math.floor(random() * 60 * DAY),
    });
  }
  const joined = (a: number, b: number) => Math.max(users[a]!.createdAt, users[b]!.createdAt);
  const between = (from: number, to: number) =>
    from + Math.floor(random() * Math.max(0, to - from));

  // Popularity follows a Zipf law over a random ranking: a few accounts get most follows.
  const rank = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = int(i + 1);
    [rank[i], rank[j]] = [rank[j]!, rank[i]!];
  }
  const cumulative = new Float64Array(n);
  let total = 0;
  for (let r = 0; r < n; r++) cumulative[r] = total += 1 / (r + 1);
  const popular = () => {
    const x = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return rank[lo]!;
  };

  const follows = new Map<number, number>(); // follower * n + followee → time
  const friendships: number[] = [];
  const friendKeys = new Set<number>();
  const friendsOf: number[][] = Array.from({ length: n }, () => []);
  if (n > 1) {
    for (let u = 0; u < n; u++) {
      // Log-normal number of followees (median FOLLOW_MEDIAN), capped by who there is to follow.
      const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const want = Math.min(n - 1, Math.max(1, Math.round(FOLLOW_MEDIAN * Math.exp(0.8 * normal))));
      let got = 0;
      for (let tries = 0; got < want && tries < want * 20; tries++) {
        const v = popular();
        const key = u * n + v;
        if (v === u || follows.has(key)) continue;
        follows.set(key, between(joined(u, v), windowStart));
        got++;
      }
      const friends = Math.round(-Math.log(1 - random()) * FRIENDS_MEAN);
      for (let k = 0; k < friends; k++) {
        const v = (u + 1 + int(Math.min(NEIGHBOURHOOD, n - 1))) % n;
        const [a, b] = u < v ? [u, v] : [v, u];
        if (friendKeys.has(a * n + b)) continue;
        friendKeys.add(a * n + b);
        const at = between(joined(a, b), windowStart);
        friendships.push(a, b, at);
        friendsOf[a]!.push(b);
        friendsOf[b]!.push(a);
        // Friends follow each other, as accepting a friend request does.
        follows.set(a * n + b, at);
        follows.set(b * n + a, at);
      }
    }
  }

  const followersOf: number[][] = Array.from({ length: n }, () => []);
  const counts = {
    posts: new Int32Array(n),
    followers: new Int32Array(n),
    following: new Int32Array(n),
    friends: new Int32Array(n),
    likes: new Int32Array(0),
    comments: new Int32Array(0),
  };
  const followRows: number[] = [];
  for (const [key, at] of follows) {
    const follower = Math.floor(key / n);
    const followee = key % n;
    followRows.push(follower, followee, at);
    followersOf[followee]!.push(follower);
    counts.following[follower]! += 1;
    counts.followers[followee]! += 1;
  }
  for (let u = 0; u < n; u++) counts.friends[u] = friendsOf[u]!.length;

  const posts: SeedPost[] = [];
  for (let u = 0; u < n; u++) {
    const count = Math.round(-Math.log(1 - random()) * p.postsPerUser);
    counts.posts[u] = count;
    for (let k = 0; k < count; k++) {
      const roll = random();
      posts.push({
        author: u,
        text: `${pick(OPENERS)} ${pick(LIKES)} ${pick(ENDINGS)}`,
        visibility: roll < 0.85 ? 'public' : roll < 0.95 ? 'followers' : 'friends',
        createdAt: between(windowStart, p.now - 60_000),
      });
    }
  }

  // Likes and comments come from people who can see the post: followers, or friends.
  const likes: number[] = [];
  const comments: SeedData['comments'][number][] = [];
  counts.likes = new Int32Array(posts.length);
  counts.comments = new Int32Array(posts.length);
  posts.forEach((post, index) => {
    const audience =
      post.visibility === 'friends' ? friendsOf[post.author]! : followersOf[post.author]!;
    if (audience.length === 0) return;
    const likers = sampleDistinct(
      audience,
      Math.round(audience.length * LIKE_RATE * 2 * random()),
      random,
    );
    for (const u of likers) likes.push(index, u, between(post.createdAt, p.now));
    counts.likes[index] = likers.length;
    const extra = random() < 0.3 ? 1 : 0;
    const commenters = sampleDistinct(
      audience,
      Math.round(audience.length * COMMENT_RATE * 2 * random()) + extra,
      random,
    );
    for (const u of commenters) {
      const createdAt = between(post.createdAt, Math.min(p.now, post.createdAt + 2 * DAY));
      comments.push({ post: index, author: u, text: pick(REPLIES), createdAt });
    }
    counts.comments[index] = commenters.length;
  });

  return { users, follows: followRows, friendships, posts, likes, comments, counts };
}

/** `k` distinct items of `items` (all of them if k ≥ length). */
function sampleDistinct(items: readonly number[], k: number, random: () => number): number[] {
  if (k <= 0) return [];
  if (k >= items.length) return [...items];
  if (k * 3 < items.length) {
    const picked = new Set<number>();
    while (picked.size < k) picked.add(Math.floor(random() * items.length));
    return [...picked].map((i) => items[i]!);
  }
  const pool = [...items];
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}
