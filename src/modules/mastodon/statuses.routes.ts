import type { Context } from '../../app/context.ts';
import { AppError, NotFoundError, ValidationError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import { idempotencyKeyOf, markReplay } from '../../http/idempotency.ts';
import { decodeCursor, encodeCursor, TimeCursor } from '../../http/pagination.ts';
import type { App } from '../../http/types.ts';
import { presentAccount } from './accounts.presenter.ts';
import { toHtml } from './content.ts';
import { isId, recordNotFound, viewerOf } from './lookup.ts';
import { originOf, pageParams, setLinks } from './paging.ts';
import { fromMastodonVisibility, StatusPresenter } from './statuses.presenter.ts';
import { directStatuses } from './direct.ts';

type IdParams = { id: string };
type Body = Record<string, unknown>;
const write = { auth: 'required' as const, scope: 'write:statuses' };
const writeFavourites = { auth: 'required' as const, scope: 'write:favourites' };
const optional = { auth: 'optional' as const };

/** kith has no polls, content warnings, scheduling or quotes: refused, never dropped. */
const UNSUPPORTED = ['poll', 'spoiler_text', 'scheduled_at', 'quoted_status_id'];
function refuseUnsupported(body: Body): void {
  for (const field of UNSUPPORTED) {
    const value = body[field];
    // Elk always sends `spoiler_text: ""` and `media_ids: []`; forms send `media_ids[]=`.
    const empty = [value].flat().every((v) => v === undefined || v === null || v === '');
    if (!empty) throw new AppError(422, 'unsupported', `${field} is not supported by kith`);
  }
  if (
    body.in_reply_to_id !== undefined &&
    body.in_reply_to_id !== null &&
    body.in_reply_to_id !== ''
  )
    throw new AppError(
      422,
      'unsupported',
      'replies are not supported yet: comment through the kith API',
    );
}

/** `status` is the text; kith's rules (length, trimming) apply in the posts service. */
const statusText = (body: Body) => (typeof body.status === 'string' ? body.status : '');

/**
 * `media_ids[]` as kith's `media_ids` (its rules apply: the caller's own uploads, free or
 * already on this post, at most MEDIA_MAX_PER_POST); undefined when not sent at all. A form's
 * `media_ids[]=` (empty) is an empty list: on an edit, it removes the pictures.
 */
function mediaIdsOf(body: Body): string[] | undefined {
  const value = body.media_ids;
  if (value === undefined || value === null) return undefined;
  const ids = [value].flat().filter((v) => v !== '');
  const bad = ids.flatMap((v, i) =>
    isId(v)
      ? []
      : [{ path: `/media_ids/${i}`, message: 'no such media of yours', code: 'media_unusable' }],
  );
  if (bad.length > 0) throw new ValidationError(bad, 'Some media cannot be attached.');
  return (ids as string[]).map((v) => v.toLowerCase());
}

/** A post the viewer may see, or Mastodon's 404 for anything else (malformed ids too). */
const toRecordNotFound = (err: unknown): never => {
  throw err instanceof NotFoundError ? recordNotFound() : err;
};

/** Statuses (kith posts): write, read, edit, delete, favourite, history. */
export function mastodonStatusRoutes(ctx: Context) {
  const { db } = ctx.database;
  return async (app: App) => {
    const post = (viewer: string | null, id: string) => {
      if (!isId(id)) throw recordNotFound();
      return ctx.posts.get(viewer, id.toLowerCase()).catch(toRecordNotFound);
    };
    // kith's messages as `direct` statuses (direct.ts): looked up after posts.
    const direct = directStatuses(ctx, app);

    app.post('/v1/statuses', { config: write }, async (request, reply) => {
      const body = (request.body ?? {}) as Body;
      if (body.visibility === 'direct') return direct.create(request, reply, body);
      refuseUnsupported(body);
      const visibility = fromMastodonVisibility(body.visibility);
      const { post: created, replayed } = await ctx.posts.create(
        principalOf(request).userId,
        { text: statusText(body), visibility, media_ids: mediaIdsOf(body) },
        idempotencyKeyOf(request),
      );
      markReplay(reply, replayed);
      return new StatusPresenter(db, originOf(request)).one(created);
    });

    app.get<{ Params: IdParams }>('/v1/statuses/:id', { config: optional }, async (request) =>
      direct.orMessage(
        request,
        async () =>
          new StatusPresenter(db, originOf(request)).one(
            await post(viewerOf(request), request.params.id),
          ),
        (item) => direct.status(request, item),
      ),
    );

    app.put<{ Params: IdParams }>('/v1/statuses/:id', { config: write }, async (request) => {
      const { userId } = principalOf(request);
      const body = (request.body ?? {}) as Body;
      refuseUnsupported(body);
      await direct.orMessage(
        request,
        () => post(userId, request.params.id),
        direct.refuse('edited'),
      );
      const updated = await ctx.posts
        .update(userId, request.params.id.toLowerCase(), {
          text: statusText(body),
          media_ids: mediaIdsOf(body),
        })
        .catch(toRecordNotFound);
      return new StatusPresenter(db, originOf(request)).one(updated);
    });

    app.delete<{ Params: IdParams }>('/v1/statuses/:id', { config: write }, async (request) => {
      const { userId } = principalOf(request);
      const existing = await direct.orMessage(
        request,
        () => post(userId, request.params.id),
        direct.refuse('deleted'),
      );
      await ctx.posts.delete(userId, existing.id).catch(toRecordNotFound);
      // Mastodon answers with the deleted status and its source text ("delete and redraft").
      const status = await new StatusPresenter(db, originOf(request)).one(existing);
      return { ...status, text: existing.text };
    });

    for (const [verb, like] of [
      ['favourite', true],
      ['unfavourite', false],
    ] as const) {
      app.post<{ Params: IdParams }>(
        `/v1/statuses/:id/${verb}`,
        { config: writeFavourites },
        async (request) => {
          const { userId } = principalOf(request);
          const { id } = await direct.orMessage(
            request,
            () => post(userId, request.params.id),
            direct.refuse('favourited'),
          );
          await (like ? ctx.posts.like(userId, id) : ctx.posts.unlike(userId, id)).catch(
            toRecordNotFound,
          );
          return new StatusPresenter(db, originOf(request)).one(await post(userId, id));
        },
      );
    }

    app.get<{ Params: IdParams }>(
      '/v1/statuses/:id/favourited_by',
      { config: optional },
      async (request, reply) => {
        const viewer = viewerOf(request);
        const { id } = await post(viewer, request.params.id);
        const query = request.query as Body;
        const params = pageParams(query, 'accounts');
        let after: { t: string; id: string } | undefined;
        try {
          after =
            typeof query.max_id === 'string' ? decodeCursor(TimeCursor, query.max_id) : undefined;
        } catch {
          return [];
        }
        const likers = await ctx.posts.likers(viewer, id, after, params.limit);
        const cursors = new Map(
          likers.map((u) => [
            u.id,
            encodeCursor({ t: new Date(u.liked_at).toISOString(), id: u.id }),
          ]),
        );
        setLinks(request, reply, likers, params, (u) => cursors.get(u.id)!);
        return likers.map((u) => presentAccount(originOf(request), u));
      },
    );

    app.get<{ Params: IdParams }>(
      '/v1/statuses/:id/context',
      { config: optional },
      async (request) =>
        direct.orMessage(
          request,
          async () => {
            await post(viewerOf(request), request.params.id);
            return { ancestors: [], descendants: [] };
          },
          (item) => direct.context(request, item),
        ),
    );

    app.get<{ Params: IdParams }>(
      '/v1/statuses/:id/source',
      { config: { auth: 'required', scope: 'read:statuses' } },
      async (request) => {
        const { userId } = principalOf(request);
        const found = await post(userId, request.params.id);
        // The source is for editing: its author's only.
        if (found.author_id !== userId) throw recordNotFound();
        return { id: found.id, text: found.text, spoiler_text: '' };
      },
    );

    // Mastodon lists every version oldest first, the current one last.
    app.get<{ Params: IdParams }>(
      '/v1/statuses/:id/history',
      { config: optional },
      async (request) => {
        const viewer = viewerOf(request);
        const current = await post(viewer, request.params.id);
        const versions = await ctx.posts.history(viewer, current.id, undefined, 100);
        const [status] = await new StatusPresenter(db, originOf(request)).present([current]);
        const edit = (text: string, at: Date) => ({
          content: toHtml(text),
          spoiler_text: '',
          sensitive: false,
          created_at: new Date(at).toISOString(),
          account: status!.account,
          media_attachments: [],
          emojis: [],
        });
        return [
          ...versions.reverse().map((v) => edit(v.text, v.written_at)),
          {
            ...edit(current.text, current.edited_at ?? current.created_at),
            content: status!.content,
          },
        ];
      },
    );
  };
}
