import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AppError, ConflictError, NotFoundError, ValidationError } from '../../errors.ts';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB, DsbMedia, DsbMention } from '../../infra/db/schema.ts';
import type { UsersService } from '../accounts/users.service.ts';
import type { FeedService } from '../feed/feed.service.ts';
import { mentionedUsernames } from '../../text.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import type { PostsService } from '../posts/posts.service.ts';
import type { SocialService } from '../social/social.service.ts';
import { DsbRepository, type DsbUser } from './dsb.repository.ts';

/** Timeline windows end at most this deep (DSB's own scripts read up to 110). */
export const MAX_STOP = 1000;

/** A post as DSB's timeline reads present it; ids and the timestamp (ms) are strings. */
export interface DsbTimelinePost {
  post_id: string;
  creator: { user_id: string; username: string };
  req_id: string;
  text: string;
  user_mentions: DsbMention[];
  media: DsbMedia[];
  urls: { shortened_url: string; expanded_url: string }[];
  timestamp: string;
  post_type: number;
}

export interface DsbRegistration {
  dsbId: string;
  username: string;
  password: string;
  firstName: string;
  lastName: string;
}

export interface DsbComposition {
  dsbId: string;
  username: string;
  text: string;
  media: DsbMedia[];
  postType: number;
}

/** Who follows whom: both by DSB id, or both by username. */
export type DsbPair = { ids: [string, string] } | { names: [string, string] };

export interface DsbDeps {
  db: Kysely<DB>;
  cache: Cache;
  users: UsersService;
  social: SocialService;
  posts: PostsService;
  feed: FeedService;
}

const USERNAME = /^[A-Za-z0-9_]{3,30}$/;
/** DSB has no e-mail or birth date; registrations get placeholders that pass kith's rules. */
const EMAIL_DOMAIN = 'dsb.invalid';
const DATE_OF_BIRTH = '2000-01-01';
const DISPLAY_NAME_MAX = 50;
const USER_TTL_SECONDS = 600;
const userKey = (dsbId: string) => `dsb-user:${dsbId}`;

const newestFirst = (a: HydratedPost, b: HydratedPost) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
const urlsIn = (text: string) =>
  [...text.matchAll(/\bhttps?:\/\/\S+/g)].map(([url]) => ({
    // kith keeps links as written: nothing is shortened.
    shortened_url: url,
    expanded_url: url,
  }));
/** A request id like DSB's (the first 15 hex digits of nginx's request id, as a number). */
const newReqId = () => (randomBytes(8).readBigUInt64BE() >> 4n).toString();

/**
 * DeathStarBench's social-network operations on kith's own services: a DSB user is a kith user
 * (registered the normal way), a follow is a kith follow, a composed post is a kith post fanned
 * out by the worker, and the home timeline is the kith home feed. Only what kith has no place
 * for (DSB ids, media, post type, mention delivery) lives in the dsb_* tables.
 */
export class DsbService {
  readonly #d: DsbDeps;
  readonly #repo: DsbRepository;

  constructor(deps: DsbDeps) {
    this.#d = deps;
    this.#repo = new DsbRepository(deps.db);
  }

  async register(input: DsbRegistration): Promise<void> {
    if (!USERNAME.test(input.username)) {
      throw new ValidationError(
        [{ path: '/username', message: 'must be 3-30 of a-z, 0-9 and _' }],
        'Invalid username',
      );
    }
    const username = input.username.toLowerCase();
    const taken = () =>
      new ConflictError('user_id_taken', `User with user_id ${input.dsbId} already existed`);
    const usernameTaken = () =>
      new ConflictError('username_taken', `User ${input.username} already existed`);
    const existing = await this.#repo.findByDsbId(input.dsbId);
    // A repeated registration answers as DSB does for an existing user.
    if (existing) throw existing.username === username ? usernameTaken() : taken();
    const name = [...`${input.firstName} ${input.lastName}`.trim()].slice(0, DISPLAY_NAME_MAX);
    try {
      // The account and its DSB id commit together: a request that fails (or runs out of time)
      // between them leaves nothing behind, so the client's retry registers the user afresh.
      await this.#d.users.register(
        {
          username,
          email: `${username}@${EMAIL_DOMAIN}`,
          password: input.password,
          dob: DATE_OF_BIRTH,
          display_name: name.join(''),
        },
        async (trx, user) => {
          // Checked above; only registrations racing for one DSB id get here.
          if (!(await new DsbRepository(trx).map(input.dsbId, user.id))) throw taken();
        },
      );
    } catch (err) {
      if (err instanceof AppError && err.code === 'username_taken') throw usernameTaken();
      throw err;
    }
  }

  async follow(pair: DsbPair, follow: boolean): Promise<void> {
    let followerId: string;
    let followee: string;
    if ('ids' in pair) {
      const [a, b] = await Promise.all(pair.ids.map((id) => this.#user(id)));
      followerId = a!.id;
      followee = b!.username;
    } else {
      followerId = (await this.#d.users.resolve(pair.names[0])).id;
      followee = pair.names[1];
    }
    if (follow) await this.#d.social.follow(followerId, followee);
    else await this.#d.social.unfollow(followerId, followee);
  }

  /** Writes the post (public) through kith, then its DSB fields; returns the post id. */
  async compose(input: DsbComposition): Promise<string> {
    const author = await this.#user(input.dsbId);
    if (author.username !== input.username.toLowerCase()) {
      throw new AppError(
        400,
        'username_mismatch',
        `user_id ${input.dsbId} is ${author.username}, not ${input.username}`,
      );
    }
    const names = mentionedUsernames(input.text);
    const [found, { post }] = await Promise.all([
      this.#repo.findByUsernames(names),
      this.#d.posts.create(author.id, { text: input.text, visibility: 'public' }),
    ]);
    // In the order the text names them; unknown names are left out, as DSB does.
    const byName = new Map(found.map((u) => [u.username, u]));
    const mentioned = names.flatMap((n) => byName.get(n) ?? []);
    await this.#repo.save(
      {
        post_id: post.id,
        creator_dsb_id: author.dsb_id,
        req_id: newReqId(),
        post_type: input.postType,
        media: input.media,
        mentions: mentioned.map((u) => ({ user_id: u.dsb_id ?? u.id, username: u.username })),
      },
      mentioned.map((u) => u.id),
    );
    return post.id;
  }

  /** The user's public posts, entries [start, stop) newest first. */
  async userTimeline(dsbId: string, start: number, stop: number): Promise<DsbTimelinePost[]> {
    const user = await this.#user(dsbId);
    if (stop <= start) return [];
    const posts = await this.#d.posts.byAuthor(null, user.username, undefined, stop);
    return this.#present(posts.slice(start, stop));
  }

  /**
   * The user's kith home feed (their own posts and those of whom they follow) merged with the
   * posts that mention them, public posts only (these routes have no authentication), entries
   * [start, stop) newest first.
   */
  async homeTimeline(dsbId: string, start: number, stop: number): Promise<DsbTimelinePost[]> {
    const user = await this.#user(dsbId);
    if (stop <= start) return [];
    const [feed, mentioning] = await Promise.all([
      this.#d.feed.page(user.id, undefined, stop),
      this.#repo.mentioning(user.id, stop),
    ]);
    const unique = new Map<string, HydratedPost>();
    for (const post of [...feed, ...mentioning]) {
      if (post.visibility === 'public') unique.set(post.id, post);
    }
    return this.#present([...unique.values()].sort(newestFirst).slice(start, stop));
  }

  /** A DSB user by id (cached: the mapping never changes); 404 when there is none. */
  async #user(dsbId: string): Promise<DsbUser> {
    const cached = await this.#d.cache.get<DsbUser>(userKey(dsbId));
    if (cached) return cached;
    const user = await this.#repo.findByDsbId(dsbId);
    if (!user) throw new NotFoundError('user_not_found', `No user with user_id ${dsbId}`);
    await this.#d.cache.set(userKey(dsbId), user, USER_TTL_SECONDS);
    return user;
  }

  async #present(posts: HydratedPost[]): Promise<DsbTimelinePost[]> {
    const fields = new Map(
      (await this.#repo.fieldsOf(posts.map((p) => p.id))).map((f) => [f.post_id, f]),
    );
    // Posts written through kith's own API have no DSB fields; their authors may have a DSB id.
    const others = [...new Set(posts.filter((p) => !fields.has(p.id)).map((p) => p.author_id))];
    const dsbIds = await this.#repo.dsbIds(others);
    return posts.map((p) => {
      const f = fields.get(p.id);
      return {
        post_id: p.id,
        creator: {
          user_id: f?.creator_dsb_id ?? dsbIds.get(p.author_id) ?? p.author_id,
          username: p.author_username,
        },
        req_id: f?.req_id ?? '0',
        text: p.text,
        user_mentions: f?.mentions ?? [],
        // A post written through kith's API shows its pictures by id.
        media: f?.media ?? p.media.map((m) => ({ media_id: m.id, media_type: 'image' })),
        urls: urlsIn(p.text),
        timestamp: String(p.created_at.getTime()),
        post_type: f?.post_type ?? 0,
      };
    });
  }
}
