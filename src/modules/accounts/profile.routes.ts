import multipart from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { readUpload } from '../media/index.ts';
import { PICTURE_KINDS, type PictureKind } from '../media/profile-pictures.service.ts';
import { Me, presentMe, UpdateMeBody } from './accounts.schemas.ts';
import { changeProfile } from './profile.service.ts';

const PICTURE_REFUSALS =
  'A refused picture: 413 `media_too_large`, 422 `media_not_an_image`, 415 ' +
  '`media_unsupported_format`, 422 `media_corrupt`, 422 `media_too_many_pixels`; then nothing ' +
  'is changed.';

/** `PATCH /me` (JSON or multipart with pictures) and `DELETE /me/avatar|header`. */
export function profileRoutes(ctx: Context) {
  const { config } = ctx;
  const origin = config.publicUrl;
  const files = new WeakMap<FastifyRequest, Map<string, Buffer>>();
  return async (app: App) => {
    // Multipart only in this scope: the rest of the accounts API stays JSON-only.
    await app.register(multipart);

    app.patch(
      '/me',
      {
        config: { auth: 'required' },
        schema: {
          tags: ['me'],
          summary: 'Change display name, bio, message policy, avatar or header',
          description:
            'JSON, or multipart/form-data with the same text fields plus `avatar` and `header` ' +
            'file parts (JPEG, PNG, WebP, GIF or AVIF, judged by their bytes; metadata removed; ' +
            'cropped to 400×400 and 1500×500 around the most interesting part, an animation ' +
            'keeps its first frame). `avatar` / `header` sent empty (multipart `avatar=`, JSON ' +
            '`null` or `""`) remove the picture; `DELETE /me/avatar` does the same. The ' +
            `replaced file is removed shortly after. ${PICTURE_REFUSALS}`,
          consumes: ['application/json', 'multipart/form-data'],
          body: UpdateMeBody,
          response: { 200: Me },
        },
        // The form's text fields become the body, validated like JSON; files wait for the handler.
        preValidation: async (request) => {
          if (!request.isMultipart()) return;
          const upload = await readUpload(request, PICTURE_KINDS, config.mediaMaxBytes);
          files.set(request, upload.files);
          request.body = Object.fromEntries(upload.fields);
        },
      },
      async (request) => {
        const { avatar, header, ...profile } = request.body ?? {};
        const parts = files.get(request);
        const picture = (kind: PictureKind, removal: unknown) =>
          parts?.get(kind) ?? (removal === undefined ? undefined : null);
        const user = await changeProfile(ctx, principalOf(request).userId, profile, {
          avatar: picture('avatar', avatar),
          header: picture('header', header),
        });
        return presentMe(user, origin);
      },
    );

    for (const kind of PICTURE_KINDS) {
      app.delete(
        `/me/${kind}`,
        {
          config: { auth: 'required' },
          schema: {
            tags: ['me'],
            summary: `Remove your ${kind}`,
            description: `kith's default ${kind} is shown again; the file is removed shortly after.`,
            response: { 200: Me },
          },
        },
        async (request) =>
          presentMe(
            await ctx.profilePictures.apply(principalOf(request).userId, { [kind]: null }),
            origin,
          ),
      );
    }
  };
}
