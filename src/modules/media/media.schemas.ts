import { Type } from 'typebox';
import type { MediaRow } from '../../infra/db/schema.ts';
import type { MediaAttachment } from './media.repository.ts';
import { DESCRIPTION_MAX } from './media.service.ts';

const Size = Type.Object({
  width: Type.Integer(),
  height: Type.Integer(),
  size: Type.String({ description: '"WIDTHxHEIGHT"' }),
  aspect: Type.Number({ description: 'width / height' }),
});

export const Media = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.Literal('image'),
  url: Type.String({ description: 'The picture, re-encoded without metadata (unguessable URL).' }),
  preview_url: Type.String({
    description: 'A WebP preview, at most 640 pixels a side by default.',
  }),
  meta: Type.Object({
    original: Size,
    small: Size,
    focus: Type.Object({ x: Type.Number(), y: Type.Number() }),
  }),
  blurhash: Type.String({ description: 'A blurred placeholder to show while loading.' }),
  description: Type.Union([Type.String(), Type.Null()], {
    description: 'Alternative text for people who cannot see the picture.',
  }),
});

export const MediaParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const MediaIds = Type.Array(Type.String({ format: 'uuid' }), {
  maxItems: 20,
  description: 'Uploaded pictures, in order (at most `MEDIA_MAX_PER_POST`, 4 by default).',
});

export const UpdateMediaBody = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: DESCRIPTION_MAX * 2 })),
    focus: Type.Optional(Type.String({ maxLength: 64, description: '"x,y", each from -1 to 1.' })),
  },
  { additionalProperties: false, minProperties: 1 },
);

const size = (width: number, height: number) => ({
  width,
  height,
  size: `${width}x${height}`,
  aspect: width / height,
});

/** The media object, from a post's attachment or an upload's row. */
export function presentMedia(m: MediaAttachment | MediaRow) {
  return {
    id: m.id,
    type: 'image' as const,
    url: m.url,
    preview_url: m.preview_url,
    meta: {
      original: size(m.width, m.height),
      small: size(m.preview_width, m.preview_height),
      focus: { x: m.focus_x, y: m.focus_y },
    },
    blurhash: m.blurhash,
    description: m.description === '' ? null : m.description,
  };
}

/**
 * The same picture as Mastodon's MediaAttachment entity (for `media_attachments` and
 * `/api/v1|v2/media` once the Mastodon layer exists).
 */
export function presentMastodonMedia(m: MediaAttachment | MediaRow) {
  return {
    ...presentMedia(m),
    remote_url: null,
    preview_remote_url: null,
    text_url: null,
  };
}
