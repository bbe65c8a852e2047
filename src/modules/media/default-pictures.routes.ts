import sharp from 'sharp';
import type { App } from '../../http/types.ts';
import {
  DEFAULT_PICTURE_PATHS,
  PICTURE_SIZES,
  type PictureKind,
} from './profile-pictures.service.ts';

/** A neutral silhouette on grey (avatar) and a plain band (header), drawn once as SVG. */
const SVG: Record<PictureKind, string> = {
  avatar: `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400">
    <rect width="400" height="400" fill="#c7ccd1"/>
    <circle cx="200" cy="160" r="80" fill="#8a939c"/>
    <ellipse cx="200" cy="400" rx="150" ry="130" fill="#8a939c"/></svg>`,
  header: `<svg xmlns="http://www.w3.org/2000/svg" width="1500" height="500">
    <rect width="1500" height="500" fill="#c7ccd1"/></svg>`,
};

/** Rendered on first use and kept: a few kilobytes each. */
const rendered = new Map<PictureKind, Promise<Buffer>>();
export function defaultPicture(kind: PictureKind): Promise<Buffer> {
  let png = rendered.get(kind);
  if (!png) {
    const { width, height } = PICTURE_SIZES[kind];
    png = sharp(Buffer.from(SVG[kind]))
      .resize(width, height)
      .png({ compressionLevel: 9, palette: true })
      .toBuffer();
    rendered.set(kind, png);
  }
  return png;
}

/**
 * The pictures of accounts that have none (the paths Mastodon uses), so every account has an
 * avatar and a header URL. They may change with a release: cached for a day, not forever.
 */
export function defaultPicturesRoutes() {
  return async (app: App) => {
    for (const kind of ['avatar', 'header'] as const) {
      app.get(DEFAULT_PICTURE_PATHS[kind], { schema: { hide: true } }, async (_request, reply) =>
        reply
          .header('content-type', 'image/png')
          .header('cache-control', 'public, max-age=86400')
          .send(await defaultPicture(kind)),
      );
    }
  };
}
