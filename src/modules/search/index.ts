import type { FeatureModule } from '../../app/feature.ts';
import { followedTagsConsumer } from './followed-tags.consumer.ts';
import { publicPostsConsumer } from './public-posts.consumer.ts';
import { searchRoutes } from './search.routes.ts';
import { tagsRoutes } from './tags.routes.ts';

/** Finding things: search, hashtags, the public and tag timelines, followed tags and trends. */
export const searchModule: FeatureModule = {
  name: 'search',
  routes: [searchRoutes, tagsRoutes],
  consumers: (ctx) => [
    followedTagsConsumer(ctx.database.db, ctx.timelines, {
      cap: ctx.config.feedTimelineCap,
      batch: ctx.config.feedFanoutBatch,
    }),
    publicPostsConsumer(ctx.database.db, ctx.bus, ctx.log),
  ],
};
