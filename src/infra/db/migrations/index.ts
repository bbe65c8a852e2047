import type { Migration } from 'kysely';
import * as accounts from './0001-accounts.ts';
import * as social from './0002-social.ts';
import * as outbox from './0003-outbox.ts';
import * as feed from './0004-feed.ts';
import * as mail from './0005-mail.ts';
import * as realtime from './0006-realtime.ts';
import * as dsb from './0007-dsb.ts';
import * as fanoutPending from './0008-fanout-pending.ts';
import * as search from './0011-search.ts';

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
  '0011-search': search,
};
