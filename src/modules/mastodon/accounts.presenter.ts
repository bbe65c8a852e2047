import type { UserRow } from '../../infra/db/schema.ts';
import type { UserCard } from '../accounts/user-cards.cache.ts';
import type { Relationship as KithRelationship } from '../social/social.schemas.ts';
import type { Static } from 'typebox';
import { escapeHtml } from './content.ts';
import { picturesOf } from '../media/profile-pictures.service.ts';

type KithRel = Static<typeof KithRelationship>;

/** Where the account's pages and default images live, relative to the public origin. */
export const accountUrl = (origin: string, username: string) => `${origin}/@${username}`;

const noteHtml = (bio: string) =>
  bio.trim() === ''
    ? ''
    : bio
        .split(/\n{2,}/)
        .map((p) => `<p>${escapeHtml(p).replace(/\n/g, '<br>')}</p>`)
        .join('');

/** A kith user as a Mastodon Account (docs entities/Account.md); counts as given. */
export function presentAccount(origin: string, user: UserCard) {
  // kith keeps still pictures only (an animation keeps its first frame): static = the same.
  const { avatar, header } = picturesOf(user, origin);
  return {
    id: user.id,
    username: user.username,
    acct: user.username,
    url: accountUrl(origin, user.username),
    uri: `${origin}/users/${user.username}`,
    display_name: user.display_name,
    note: noteHtml(user.bio),
    avatar,
    avatar_static: avatar,
    header,
    header_static: header,
    // kith follows need no approval: friend requests are what appears as follow requests.
    locked: false,
    fields: [],
    emojis: [],
    roles: [],
    bot: false,
    group: false,
    discoverable: true,
    indexable: false,
    noindex: false,
    hide_collections: false,
    memorial: false,
    moved: null,
    created_at: new Date(user.created_at).toISOString(),
    // kith keeps no time of a user's newest post (Mastodon's value is a date or null).
    last_status_at: null,
    statuses_count: user.post_count,
    followers_count: user.follower_count,
    following_count: user.following_count,
    feature_approval: { automatic: [], manual: [], current_user: 'denied' },
    kith: { friends_count: user.friend_count },
  };
}

/** The signed-in user's own account, with `source` and `role` (CredentialAccount). */
export function presentCredentialAccount(origin: string, user: UserRow, followRequests: number) {
  return {
    ...presentAccount(origin, user),
    source: {
      privacy: 'public',
      sensitive: false,
      language: null,
      note: user.bio,
      fields: [],
      follow_requests_count: followRequests,
      discoverable: true,
      indexable: false,
      hide_collections: false,
      attribution_domains: [],
      quote_policy: 'public',
    },
    role: { id: '-99', name: '', permissions: '65536', color: '', highlighted: false },
  };
}

/** kith's relationship as Mastodon's: friends follow each other; requests are follow requests. */
export function presentRelationship(accountId: string, rel: KithRel) {
  return {
    id: accountId,
    following: rel.following,
    followed_by: rel.followed_by,
    blocking: rel.blocking,
    blocked_by: rel.blocked_by,
    muting: rel.muting,
    // kith mutes also silence the muted user's notifications.
    muting_notifications: rel.muting,
    requested: rel.request_outgoing,
    requested_by: rel.request_incoming,
    showing_reblogs: true,
    notifying: false,
    languages: null,
    domain_blocking: false,
    endorsed: false,
    note: '',
    kith: { friends: rel.friends },
  };
}
