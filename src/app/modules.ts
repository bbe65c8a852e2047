import type { Config } from '../config.ts';
import { accountsModule } from '../modules/accounts/index.ts';
import { commentsModule } from '../modules/comments/index.ts';
import { dsbModule } from '../modules/dsb/index.ts';
import { feedModule } from '../modules/feed/index.ts';
import { lifecycleModule } from '../modules/lifecycle/index.ts';
import { mailModule } from '../modules/mail/index.ts';
import { mastodonModule } from '../modules/mastodon/index.ts';
import { defaultPicturesModule, mediaFilesModule, mediaModule } from '../modules/media/index.ts';
import { messagesModule } from '../modules/messages/index.ts';
import { notificationsModule } from '../modules/notifications/index.ts';
import { postsModule } from '../modules/posts/index.ts';
import { searchModule } from '../modules/search/index.ts';
import { realtimeModule } from '../modules/realtime/index.ts';
import { socialModule } from '../modules/social/index.ts';
import { oauthModule } from '../modules/oauth/index.ts';
import { instanceModule } from '../modules/instance/index.ts';
import { moderationModule } from '../modules/moderation/index.ts';
import type { FeatureModule } from './feature.ts';

/** Every feature, one line each: its routes, consumers and housekeeping live in its index.ts. */
export const MODULES: readonly FeatureModule[] = [
  accountsModule,
  socialModule,
  postsModule,
  commentsModule,
  feedModule,
  notificationsModule,
  messagesModule,
  realtimeModule,
  mailModule,
  dsbModule,
  oauthModule,
  instanceModule,
  lifecycleModule,
  mastodonModule,
  moderationModule,
  mediaModule,
  mediaFilesModule,
  defaultPicturesModule,
  searchModule,
];

/** The modules this configuration turns on. */
export function enabledModules(config: Config): FeatureModule[] {
  return MODULES.filter((m) => m.enabled?.(config) ?? true);
}
