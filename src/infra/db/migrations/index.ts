import type { Migration } from 'kysely';
import * as accounts from './0001-accounts.ts';
import * as social from './0002-social.ts';
import * as outbox from './0003-outbox.ts';
import * as feed from './0004-feed.ts';
import * as mail from './0005-mail.ts';
import * as realtime from './0006-realtime.ts';
import * as dsb from './0007-dsb.ts';
import * as fanoutPending from './0008-fanout-pending.ts';
import * as feedReads from './0009-feed-reads.ts';
import * as oauth from './0013-oauth.ts';
import * as accountLifecycle from './0014-account-lifecycle.ts';
import * as mastodon from './0016-mastodon.ts';
import * as moderation from './0012-moderation.ts';
import * as media from './0010-media.ts';
import * as search from './0011-search.ts';
import * as profilePictures from './0017-profile-pictures.ts';
import * as repliesLists from './0018-replies-lists.ts';
import * as searchSpeed from './0022-search-speed.ts';

/**
 * Every migration, in order. Listed by hand (not read from the folder) so they work the same
 * from source, in a container and under the test runner. Never edit one that has shipped.
 */
export const migrations: Record<string, Migration> = {
  '0001-accounts': accounts,
  '0002-social': social,
  '0003-outbox': outbox,
  '0004-feed': feed,
  '0005-mail': mail,
  '0006-realtime': realtime,
  '0007-dsb': dsb,
  '0008-fanout-pending': fanoutPending,
  '0009-feed-reads': feedReads,
  '0013-oauth': oauth,
  '0014-account-lifecycle': accountLifecycle,
  '0016-mastodon': mastodon,
  '0012-moderation': moderation,
  '0010-media': media,
  '0011-search': search,
  '0017-profile-pictures': profilePictures,
  '0018-replies-lists': repliesLists,
  '0022-search-speed': searchSpeed,
};
