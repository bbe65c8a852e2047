import type { FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import { NotFoundError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import type { App } from '../../http/types.ts';
import { mediaErrors } from '../media/index.ts';
import { presentMastodonMedia } from '../media/media.schemas.ts';
import { MASTODON_FLAVOUR } from './flavour.ts';
import { isId, recordNotFound } from './lookup.ts';

type Body = Record<string, unknown>;
type IdParams = { id: string };
const write = { auth: 'required' as const, scope: 'write:media' };

const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
/** Mastodon sends the focal point as "x,y" (forms) or as two numbers in JSON. */
function focusOf(v: unknown): string | undefined {
  if (Array.isArray(v) && v.length === 2) return v.map(String).join(',');
  return typeof v === 'number' ? String(v) : text(v);
}

const toRecordNotFound = (err: unknown): never => {
  throw err instanceof NotFoundError ? recordNotFound() : err;
};

/**
 * Mastodon's media routes over kith's uploads: `POST /api/v2/media` (and v1), `GET` and `PUT
 * /api/v1/media/:id`. Processing is synchronous, so the answer is 200 with the URL set. Only
 * the uploader sees or changes a media object. Where kith's own API has the same method and
 * path (`POST /api/v1/media`, `GET /api/v1/media/:id`), the token decides (flavour.ts).
 */
export function mastodonMediaRoutes(ctx: Context) {
  return async (app: App) => {
    const upload = async (request: FastifyRequest) => {
      const body = (request.body ?? {}) as Body;
      const file = body.file;
      if (!Buffer.isBuffer(file)) throw mediaErrors.missing();
      const row = await ctx.media.upload(principalOf(request).userId, file, {
        description: text(body.description),
        focus: focusOf(body.focus),
      });
      return presentMastodonMedia(row);
    };
    app.post('/v2/media', { config: write }, upload);
    app.post('/v1/media', { config: write, constraints: MASTODON_FLAVOUR }, upload);

    const owned = (request: FastifyRequest<{ Params: IdParams }>) => {
      if (!isId(request.params.id)) throw recordNotFound();
      return request.params.id.toLowerCase();
    };

    app.get<{ Params: IdParams }>(
      '/v1/media/:id',
      { config: write, constraints: MASTODON_FLAVOUR },
      async (request) =>
        presentMastodonMedia(
          await ctx.media.get(principalOf(request).userId, owned(request)).catch(toRecordNotFound),
        ),
    );

    app.put<{ Params: IdParams }>('/v1/media/:id', { config: write }, async (request) => {
      const body = (request.body ?? {}) as Body;
      const id = owned(request);
      const userId = principalOf(request).userId;
      const details = { description: text(body.description), focus: focusOf(body.focus) };
      const row =
        details.description === undefined && details.focus === undefined
          ? await ctx.media.get(userId, id).catch(toRecordNotFound)
          : await ctx.media.update(userId, id, details).catch(toRecordNotFound);
      return presentMastodonMedia(row);
    });
  };
}
