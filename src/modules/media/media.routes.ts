import multipart from '@fastify/multipart';
import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { mediaErrors } from './media.errors.ts';
import { Media, MediaParams, presentMedia, UpdateMediaBody } from './media.schemas.ts';
import { readUpload } from './upload.ts';

const tags = ['media'];
const notYours = '404 `media_not_found` when it is not one of your uploads.';

/** Uploading pictures and describing them; they are shown through the posts that carry them. */
export function mediaRoutes(ctx: Context) {
  const { media, config } = ctx;
  return async (app: App) => {
    // Only these routes read multipart bodies: the rest of the API stays JSON-only.
    await app.register(multipart);

    app.post(
      '/media',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Upload a picture',
          description:
            'multipart/form-data with `file` (JPEG, PNG, WebP, GIF or AVIF, judged by its bytes), ' +
            'optional `description` (alternative text) and `focus` ("x,y", each -1..1). ' +
            'The picture is re-encoded without any metadata (EXIF, GPS…), turned upright and scaled ' +
            'down; attach it to a post with `media_ids` within `MEDIA_UNATTACHED_TTL_MINUTES`. ' +
            'Refusals: 413 `media_too_large`, 422 `media_not_an_image`, 415 `media_unsupported_format`, ' +
            '422 `media_corrupt`, 422 `media_too_many_pixels`, 400 `media_missing`.',
          consumes: ['multipart/form-data'],
          response: { 201: Media },
        },
      },
      async (request, reply) => {
        const upload = await readUpload(request, ['file'], config.mediaMaxBytes);
        const file = upload.files.get('file');
        if (!file) throw mediaErrors.missing();
        const row = await media.upload(principalOf(request).userId, file, {
          description: upload.fields.get('description'),
          focus: upload.fields.get('focus'),
        });
        return reply
          .status(201)
          .header('location', `/api/v1/media/${row.id}`)
          .send(presentMedia(row));
      },
    );

    app.get(
      '/media/:id',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'One of your uploads',
          description: notYours,
          params: MediaParams,
          response: { 200: Media },
        },
      },
      async (request) =>
        presentMedia(await media.get(principalOf(request).userId, request.params.id)),
    );

    app.patch(
      '/media/:id',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Change the description or focal point of your upload',
          description: `Posts that carry it show the change. ${notYours}`,
          params: MediaParams,
          body: UpdateMediaBody,
          response: { 200: Media },
        },
      },
      async (request) =>
        presentMedia(
          await media.update(principalOf(request).userId, request.params.id, request.body),
        ),
    );

    app.delete(
      '/media/:id',
      {
        config: { auth: 'required' },
        schema: {
          tags,
          summary: 'Delete an upload no post carries',
          description: `Its files are removed shortly after. 409 \`media_attached\` when a post carries it (edit the post). ${notYours}`,
          params: MediaParams,
          response: { 204: Type.Null({ description: 'Deleted' }) },
        },
      },
      async (request, reply) => {
        await media.delete(principalOf(request).userId, request.params.id);
        return reply.status(204).send(null);
      },
    );
  };
}
