import type { FeatureModule } from '../../app/feature.ts';
import { defaultPicturesRoutes } from './default-pictures.routes.ts';
import { mediaFilesRoutes } from './media-files.routes.ts';
import { mediaConsumer } from './media.consumer.ts';
import { mediaRoutes } from './media.routes.ts';

/** Reads multipart uploads within the configured limits (the accounts routes take pictures too). */
export { readUpload } from './upload.ts';
/** The stable codes of refused pictures, for the other presentations (Mastodon). */
export { mediaErrors } from './media.errors.ts';

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

/** The default avatar and header, served wherever the media files are kept. */
export const defaultPicturesModule: FeatureModule = {
  name: 'default-pictures',
  routes: [defaultPicturesRoutes],
  prefix: '',
};
