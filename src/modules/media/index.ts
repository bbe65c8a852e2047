import type { FeatureModule } from '../../app/feature.ts';
import { mediaFilesRoutes } from './media-files.routes.ts';
import { mediaConsumer } from './media.consumer.ts';
import { mediaRoutes } from './media.routes.ts';

/** Pictures: uploads, their processing and storage, and their removal. */
export const mediaModule: FeatureModule = {
  name: 'media',
  routes: [mediaRoutes],
  consumers: (ctx) => [mediaConsumer(ctx.media)],
  // Uploads nobody attached within the configured time go, with their files.
  housekeeping: async (ctx) => {
    while ((await ctx.media.purgeUnattached(ctx.config.mediaUnattachedTtlMinutes)) > 0);
  },
};

/** The media files themselves at `/media/<key>`, when they are kept on this disk. */
export const mediaFilesModule: FeatureModule = {
  name: 'media-files',
  routes: [mediaFilesRoutes],
  prefix: '/media',
  enabled: (config) => config.mediaStorage === 'disk',
};
