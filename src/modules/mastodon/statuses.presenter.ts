import type { Kysely } from 'kysely';
import type { DB, UserRow, Visibility } from '../../infra/db/schema.ts';
import { hashtagsOf, mentionedUsernames } from '../../text.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import { AppError } from '../../errors.ts';
import { accountUrl, presentAccount } from './accounts.presenter.ts';
import { toHtml } from './content.ts';
import { presentMastodonMedia } from '../media/media.schemas.ts';
import { tagUrl } from './tags.presenter.ts';

export type MastodonVisibility = 'public' | 'unlisted' | 'private' | 'direct';

/** kith `followers` and `friends` are both Mastodon `private`; `kith.visibility` tells them apart. */
export const toMastodonVisibility = (v: Visibility): MastodonVisibility =>
  v === 'public' ? 'public' : 'private';

const unsupported = (field: string, message: string) =>
  new AppError(422, 'unsupported', message, {
    errors: [{ path: `/${field}`, code: 'unsupported', message }],
  });

/**
 * A Mastodon visibility as kith's: `private` → `followers`; `friends` (and GoToSocial's
 * `mutuals_only`) → `friends`. `unlisted` has no kith equivalent (public would leak into
 * timelines, followers would narrow it silently) and `direct` statuses are not yet served: 422.
 */
export function fromMastodonVisibility(value: unknown): Visibility | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 'public') return 'public';
  if (value === 'private') return 'followers';
  if (value === 'friends' || value === 'mutuals_only') return 'friends';
  if (value === 'unlisted')
    throw unsupported('visibility', 'unlisted is not supported: use public or private');
  if (value === 'direct')
    throw unsupported('visibility', 'direct statuses are not supported yet: use kith messages');
  throw unsupported('visibility', 'visibility must be public, private or friends');
}

const EMPTY_APPROVAL = { automatic: [], manual: [], current_user: 'denied' };

/** Presents kith posts as Mastodon Statuses, loading their authors and mentions in one query. */
export class StatusPresenter {
  readonly #users: UsersRepository;
  readonly #origin: string;

  constructor(db: Kysely<DB>, origin: string) {
    this.#users = new UsersRepository(db);
    this.#origin = origin;
  }

  async present(posts: readonly HydratedPost[]) {
    const names = new Set<string>();
    for (const post of posts) {
      names.add(post.author_username);
      for (const name of mentionedUsernames(post.text)) names.add(name);
    }
    const users = new Map(
      (await this.#users.findManyByUsernames([...names])).map((u) => [u.username, u]),
    );
    return posts.map((post) => this.#status(post, users));
  }

  async one(post: HydratedPost) {
    return (await this.present([post]))[0]!;
  }

  #status(post: HydratedPost, users: Map<string, UserRow>) {
    const origin = this.#origin;
    const author = users.get(post.author_username)!;
    const mentioned = mentionedUsernames(post.text).flatMap((name) => users.get(name) ?? []);
    const known = new Set(mentioned.map((u) => u.username));
    // The post's tags (at most MAX_HASHTAGS): linked in the text and listed.
    const tags = hashtagsOf(post.text);
    const content = toHtml(
      post.text,
      (name) => (known.has(name) ? accountUrl(origin, name) : undefined),
      (name) => (tags.includes(name) ? tagUrl(origin, name) : undefined),
    );
    return {
      id: post.id,
      uri: `${origin}/users/${post.author_username}/statuses/${post.id}`,
      url: `${origin}/@${post.author_username}/${post.id}`,
      created_at: new Date(post.created_at).toISOString(),
      edited_at: post.edited_at ? new Date(post.edited_at).toISOString() : null,
      account: presentAccount(origin, author),
      content,
      visibility: toMastodonVisibility(post.visibility),
      sensitive: false,
      spoiler_text: '',
      media_attachments: post.media.map(presentMastodonMedia),
      mentions: mentioned.map((u) => ({
        id: u.id,
        username: u.username,
        acct: u.username,
        url: accountUrl(origin, u.username),
      })),
      tags: tags.map((name) => ({ name, url: tagUrl(origin, name) })),
      emojis: [],
      reblogs_count: 0,
      favourites_count: post.like_count,
      replies_count: post.comment_count,
      quotes_count: 0,
      in_reply_to_id: null,
      in_reply_to_account_id: null,
      reblog: null,
      poll: null,
      card: null,
      quote: null,
      language: null,
      application: null,
      favourited: post.liked,
      reblogged: false,
      muted: false,
      bookmarked: false,
      pinned: false,
      filtered: [],
      quote_approval: EMPTY_APPROVAL,
      kith: { visibility: post.visibility, kind: 'post' },
    };
  }
}
