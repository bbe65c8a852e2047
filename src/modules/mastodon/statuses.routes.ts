import type { Context } from '../../app/context.ts';
import { AppError, ValidationError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import { idempotencyKeyOf, markReplay } from '../../http/idempotency.ts';
import type { App } from '../../http/types.ts';
import { presentAccount } from './accounts.presenter.ts';
import { toHtml } from './content.ts';
import { isId, recordNotFound, viewerOf } from './lookup.ts';
import { edgeCursor, edgeLinks, originOf, pageParams } from './paging.ts';
import { fromMastodonVisibility, isComment, StatusPresenter } from './statuses.presenter.ts';
import {
  createReply,
  findPost,
  findStatus,
  isReply,
  refuseCommentMedia,
  threadOf,
  toRecordNotFound,
} from './replies.ts';
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

/**
 * Statuses (kith posts, and comments as replies to them): write, read, edit, delete, favourite,
 * thread, history. A status id is looked up as a post, then as a comment (replies.ts).
 */
export function mastodonStatusRoutes(ctx: Context) {
  return async (app: App) => {
    const post = (viewer: string | null, id: string) => findPost(ctx, viewer, id);
    const lookup = (viewer: string | null, id: string) => findStatus(ctx, viewer, id);
    // kith's messages as `direct` statuses (direct.ts): looked up after posts and comments.
    const direct = directStatuses(ctx, app);

    app.post('/v1/statuses', { config: write }, async (request, reply) => {
      const body = (request.body ?? {}) as Body;
      if (body.visibility === 'direct') return direct.create(request, reply, body);
      refuseUnsupported(body);
      if (isReply(body)) {
        const created = await createReply(
          ctx,
          principalOf(request).userId,
          body,
          idempotencyKeyOf(request),
        );
        markReplay(reply, created.replayed);
        return new StatusPresenter(ctx.users, originOf(request)).one(created.reply);
      }
      const visibility = fromMastodonVisibility(body.visibility);
      const { post: created, replayed } = await ctx.posts.create(
        principalOf(request).userId,
        { text: statusText(body), visibility, media_ids: mediaIdsOf(body) },
        idempotencyKeyOf(request),
      );
      markReplay(reply, replayed);
      return new StatusPresenter(ctx.users, originOf(request)).one(created);
    });

    app.get<{ Params: IdParams }>('/v1/statuses/:id', { config: optional }, async (request) =>
      direct.orMessage(
        request,
        async () =>
          new StatusPresenter(ctx.users, originOf(request)).one(
            await lookup(viewerOf(request), request.params.id),
          ),
        (item) => direct.status(request, item),
      ),
    );

    app.put<{ Params: IdParams }>('/v1/statuses/:id', { config: write }, async (request) => {
      const { userId } = principalOf(request);
      const body = (request.body ?? {}) as Body;
      refuseUnsupported(body);
      const found = await direct.orMessage(
        request,
        () => lookup(userId, request.params.id),
        direct.refuse('edited'),
      );
      const presenter = new StatusPresenter(ctx.users, originOf(request));
      if (isComment(found)) {
        refuseCommentMedia(body);
        await ctx.comments.update(userId, found.id, statusText(body)).catch(toRecordNotFound);
        return presenter.one(await ctx.comments.get(userId, found.id));
      }
      const updated = await ctx.posts
        .update(userId, found.id, { text: statusText(body), media_ids: mediaIdsOf(body) })
        .catch(toRecordNotFound);
      return presenter.one(updated);
    });

    app.delete<{ Params: IdParams }>('/v1/statuses/:id', { config: write }, async (request) => {
      const { userId } = principalOf(request);
      const existing = await direct.orMessage(
        request,
        () => lookup(userId, request.params.id),
        direct.refuse('deleted'),
      );
      await (
        isComment(existing)
          ? ctx.comments.delete(userId, existing.id)
          : ctx.posts.delete(userId, existing.id)
      ).catch(toRecordNotFound);
      // Mastodon answers with the deleted status and its source text ("delete and redraft").
      const status = await new StatusPresenter(ctx.users, originOf(request)).one(existing);
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
          const found = await direct.orMessage(
            request,
            () => lookup(userId, request.params.id),
            direct.refuse('favourited'),
          );
          // kith has no likes on comments: refused, never dropped (nothing to undo, though).
          if (isComment(found)) {
            if (like)
              throw new AppError(422, 'unsupported', 'comments cannot be favourited in kith');
            return new StatusPresenter(ctx.users, originOf(request)).one(found);
          }
          const { id } = found;
          await (like ? ctx.posts.like(userId, id) : ctx.posts.unlike(userId, id)).catch(
            toRecordNotFound,
          );
          return new StatusPresenter(ctx.users, originOf(request)).one(await post(userId, id));
        },
      );
    }

    app.get<{ Params: IdParams }>(
      '/v1/statuses/:id/favourited_by',
      { config: optional },
      async (request, reply) => {
        const viewer = viewerOf(request);
        const found = await lookup(viewer, request.params.id);
        if (isComment(found)) return []; // comments have no likes
        const { id } = found;
        const query = request.query as Body;
        const params = pageParams(query, 'accounts');
        const after = edgeCursor(query.max_id);
        if (after === null) return [];
        const likers = await ctx.posts.likers(viewer, id, after, params.limit);
        edgeLinks(request, reply, likers, params, (u) => u.liked_at);
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
            const viewer = viewerOf(request);
            const thread = await threadOf(ctx, viewer, await lookup(viewer, request.params.id));
            const presenter = new StatusPresenter(ctx.users, originOf(request));
            return {
              ancestors: await presenter.present(thread.ancestors),
              descendants: await presenter.present(thread.descendants),
            };
          },
          (item) => direct.context(request, item),
        ),
    );

    app.get<{ Params: IdParams }>(
      '/v1/statuses/:id/source',
      { config: { auth: 'required', scope: 'read:statuses' } },
      async (request) => {
        const { userId } = principalOf(request);
        const found = await lookup(userId, request.params.id);
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
        const current = await lookup(viewer, request.params.id);
        // kith keeps no earlier versions of a comment: its history is its current text.
        const versions = isComment(current)
          ? []
          : await ctx.posts.history(viewer, current.id, undefined, 100);
        const [status] = await new StatusPresenter(ctx.users, originOf(request)).present([current]);
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
