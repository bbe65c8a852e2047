import type { FeatureModule, RoutesOf } from '../../app/feature.ts';
import type { App } from '../../http/types.ts';
import { mastodonAccountRoutes } from './accounts.routes.ts';
import { mastodonGraphRoutes } from './graph.routes.ts';
import { mastodonPlaceholderRoutes } from './placeholders.routes.ts';
import { mastodonStatusRoutes } from './statuses.routes.ts';
import { mastodonTimelineRoutes } from './timelines.routes.ts';
import { mastodonTransport } from './transport.ts';
import { registerFlavour } from './flavour.ts';
import { mastodonNotificationRoutes } from './notifications.routes.ts';
import { mastodonMarkerRoutes } from './markers.routes.ts';
import { mastodonMediaRoutes } from './media.routes.ts';
import { mastodonStreamingRoutes } from './streaming.routes.ts';
import { mastodonModerationRoutes } from './moderation.routes.ts';
import { mastodonAccountActions } from './moderation-accounts.routes.ts';
import { mastodonListRoutes } from './lists.routes.ts';
import { mastodonConversationRoutes } from './conversations.routes.ts';
import { mastodonDiscoveryRoutes } from './discovery.routes.ts';
import { mastodonTagRoutes } from './tags.routes.ts';
import { mastodonSearchRoutes } from './search.routes.ts';

/** Every Mastodon route shares one transport (bodies, errors, CORS), kith's stays untouched. */
const mastodonRoutes: RoutesOf = (ctx) => async (app: App) => {
  registerFlavour(app);
  await mastodonTransport(app, ctx.config.mediaMaxBytes);
  for (const routes of [
    mastodonAccountRoutes(ctx),
    mastodonGraphRoutes(ctx),
    mastodonStatusRoutes(ctx),
    mastodonTimelineRoutes(ctx),
    mastodonNotificationRoutes(ctx),
    mastodonMarkerRoutes(ctx),
    mastodonListRoutes(ctx),
    mastodonMediaRoutes(ctx),
    mastodonModerationRoutes(ctx),
    mastodonAccountActions(ctx),
    mastodonConversationRoutes(ctx),
    mastodonDiscoveryRoutes(ctx),
    mastodonTagRoutes(ctx),
    mastodonSearchRoutes(ctx),
    mastodonPlaceholderRoutes(),
  ]) {
    await routes(app);
  }
  // In a plugin of its own: its hooks (the subprotocol token) touch no other route.
  await app.register(mastodonStreamingRoutes(ctx));
};

/** The Mastodon client API: a second presentation of kith's services (docs/MASTODON.md). */
export const mastodonModule: FeatureModule = {
  name: 'mastodon',
  prefix: '/api',
  routes: [mastodonRoutes],
};
