import { LRUCache } from 'lru-cache';
import type { Visibility } from '../../infra/db/schema.ts';
import { hashtagsOf, mentionedUsernames } from '../../text.ts';
import type { UserCard } from '../accounts/user-cards.cache.ts';
import type { UsersService } from '../accounts/users.service.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import type { CommentInThread } from '../comments/comments.repository.ts';
import { AppError } from '../../errors.ts';
import { accountUrl, presentAccount } from './accounts.presenter.ts';
import { toHtml } from './content.ts';
import { presentMastodonMedia } from '../media/media.schemas.ts';
import { recordNotFound } from './lookup.ts';

/** Where the presenter finds the people a status shows. */
export type StatusUsers = Pick<UsersService, 'cards' | 'refsByUsernames'>;
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
 * timelines, followers would narrow it silently): 422. A `direct` status is a kith message
 * (direct.ts), never a post: 422 here.
 */
export function fromMastodonVisibility(value: unknown): Visibility | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (value === 'public') return 'public';
  if (value === 'private') return 'followers';
  if (value === 'friends' || value === 'mutuals_only') return 'friends';
  if (value === 'unlisted')
    throw unsupported('visibility', 'unlisted is not supported: use public or private');
  if (value === 'direct')
    throw unsupported('visibility', 'a direct status is a message: it cannot be a post');
  throw unsupported('visibility', 'visibility must be public, private or friends');
}

/** What is shown as a Status: a post, or a comment (a reply to its post). */
export type Statusable = HydratedPost | CommentInThread;
export const isComment = (item: Statusable): item is CommentInThread => 'post_id' in item;

/** What differs between a post and a comment, which is a reply to its post. */
function own(item: Statusable) {
  if (!isComment(item))
    return {
      kind: 'post',
      visibility: item.visibility,
      favourites: item.like_count,
      replies: item.comment_count,
      media: item.media,
      liked: item.liked,
      parent: null,
      parentAuthor: null,
    };
  // The post's visibility; kith comments have no likes, pictures or replies of their own.
  return {
    kind: 'comment',
    visibility: item.post_visibility,
    favourites: 0,
    replies: 0,
    media: [],
    liked: false,
    parent: item.post_id,
    parentAuthor: item.post_author_id,
  };
}

const EMPTY_APPROVAL = { automatic: [], manual: [], current_user: 'denied' };

type Account = ReturnType<typeof presentAccount>;

/**
 * A status's HTML and tags depend only on its text, the mentioned names that are accounts and
 * the origin: kept for the texts read again and again (home timelines), so a page read twice
 * renders nothing twice.
 */
const renderings = new LRUCache<string, { content: string; tags: string[] }>({ max: 20_000 });

function rendered(origin: string, text: string, known: readonly string[]) {
  const key = `${origin}\n${known.join(' ')}\n${text}`;
  let found = renderings.get(key);
  if (!found) {
    // The post's tags (at most MAX_HASHTAGS): linked in the text and listed.
    const tags = hashtagsOf(text);
    const content = toHtml(
      text,
      (name) => (known.includes(name) ? accountUrl(origin, name) : undefined),
      (name) => (tags.includes(name) ? tagUrl(origin, name) : undefined),
    );
    renderings.set(key, (found = { content, tags }));
  }
  return found;
}

/**
 * Presents kith posts and comments as Mastodon Statuses, loading their authors and mentions in
 * one query. A comment is a reply to its post: its visibility is the post's; it has no likes,
 * pictures or replies of its own.
 */
export class StatusPresenter {
  readonly #users: StatusUsers;
  readonly #origin: string;

  constructor(users: StatusUsers, origin: string) {
    this.#users = users;
    this.#origin = origin;
  }

  /**
   * The statuses, with their authors and the people they mention from the user cards (no SQL
   * when cached). A status whose author is not shown (suspended meanwhile) is left out.
   */
  async present(posts: readonly Statusable[]) {
    const names = new Set<string>();
    for (const post of posts) for (const name of mentionedUsernames(post.text)) names.add(name);
    const mentioned = await this.#users.refsByUsernames([...names]);
    const cards = await this.#users.cards.byIds([
      ...posts.map((p) => p.author_id),
      ...[...mentioned.values()].map((u) => u.id),
    ]);
    const users = new Map([...cards.values()].map((u) => [u.username, u]));
    // Each author's Account once per answer, however many of their statuses it holds.
    const accounts = new Map<string, Account>();
    return posts.flatMap((post) =>
      users.has(post.author_username) ? [this.#status(post, users, accounts)] : [],
    );
  }

  async one(post: Statusable) {
    const [status] = await this.present([post]);
    if (!status) throw recordNotFound();
    return status;
  }

  #status(post: Statusable, users: Map<string, UserCard>, accounts: Map<string, Account>) {
    const origin = this.#origin;
    const author = users.get(post.author_username)!;
    const mentioned = mentionedUsernames(post.text).flatMap((name) => users.get(name) ?? []);
    const { content, tags } = rendered(
      origin,
      post.text,
      mentioned.map((u) => u.username),
    );
    let account = accounts.get(author.id);
    if (!account) accounts.set(author.id, (account = presentAccount(origin, author)));
    const shown = own(post);
    return {
      id: post.id,
      uri: `${origin}/users/${post.author_username}/statuses/${post.id}`,
      url: `${origin}/@${post.author_username}/${post.id}`,
      created_at: new Date(post.created_at).toISOString(),
      edited_at: post.edited_at ? new Date(post.edited_at).toISOString() : null,
      account,
      content,
      visibility: toMastodonVisibility(shown.visibility),
      sensitive: false,
      spoiler_text: '',
      media_attachments: shown.media.map(presentMastodonMedia),
      mentions: mentioned.map((u) => ({
        id: u.id,
        username: u.username,
        acct: u.username,
        url: accountUrl(origin, u.username),
      })),
      tags: tags.map((name) => ({ name, url: tagUrl(origin, name) })),
      emojis: [],
      reblogs_count: 0,
      favourites_count: shown.favourites,
      replies_count: shown.replies,
      quotes_count: 0,
      in_reply_to_id: shown.parent,
      in_reply_to_account_id: shown.parentAuthor,
      reblog: null,
      poll: null,
      card: null,
      quote: null,
      language: null,
      application: null,
      favourited: shown.liked,
      reblogged: false,
      muted: false,
      bookmarked: false,
      pinned: false,
      filtered: [],
      quote_approval: EMPTY_APPROVAL,
      kith: { visibility: shown.visibility, kind: shown.kind },
    };
  }
}
