import type { Context } from '../../app/context.ts';
import { AppError } from '../../errors.ts';
import type { StreamEvent } from '../realtime/stream-log.repository.ts';
import { presentNotifications } from './notifications.presenter.ts';
import { StatusPresenter } from './statuses.presenter.ts';
import { conversationEvents } from './direct.ts';

/** The streams a Mastodon client may subscribe to (docs methods/streaming.md). */
export const STREAMS = new Set([
  'user',
  'user:notification',
  'public',
  'public:media',
  'public:local',
  'public:local:media',
  'public:remote',
  'public:remote:media',
  'hashtag',
  'hashtag:local',
  'list',
  'direct',
]);

/** One Mastodon event and the streams it belongs to (before the client's subscriptions). */
export interface MastodonEvent {
  event: 'update' | 'status.update' | 'delete' | 'notification' | 'conversation';
  /** A JSON string (a Status, a Notification), or the bare status id for `delete`. */
  payload: string;
  streams: readonly ('user' | 'user:notification' | 'direct')[];
}

type PostData = { post_id: string; author_id: string };

const notFound = (err: unknown) => {
  if (err instanceof AppError && err.status === 404) return undefined;
  throw err;
};

/**
 * Turns the events of kith's stream log into Mastodon's, read as `viewerId` sees them now:
 * `feed.post` → `update`, `post.edited` → `status.update`, `post.deleted` → `delete` (on
 * `user`), `notification` → `notification` (on `user` and `user:notification`), `message` →
 * `conversation` (on `direct` only, as Mastodon). A post the viewer may no longer see, or whose
 * author they muted, sends nothing; so does every other kith event.
 */
export function mastodonEvents(
  ctx: Pick<Context, 'database' | 'posts' | 'comments' | 'relations' | 'messages' | 'users'>,
) {
  return async (viewerId: string, origin: string, e: StreamEvent): Promise<MastodonEvent[]> => {
    if (e.type === 'feed.post' || e.type === 'post.edited') {
      const { post_id, author_id } = e.data as PostData;
      if ((await ctx.relations.of(viewerId)).muted.has(author_id)) return [];
      const post = await ctx.posts.get(viewerId, post_id).catch(notFound);
      if (!post) return [];
      const status = await new StatusPresenter(ctx.users, origin).one(post);
      const event = e.type === 'feed.post' ? 'update' : 'status.update';
      return [{ event, payload: JSON.stringify(status), streams: ['user'] }];
    }
    if (e.type === 'post.deleted') {
      return [
        { event: 'delete', payload: String((e.data as PostData).post_id), streams: ['user'] },
      ];
    }
    if (e.type === 'notification') {
      const [note] = await presentNotifications(ctx, viewerId, origin, [String(e.data.id)]);
      if (!note) return [];
      return [
        {
          event: 'notification',
          payload: JSON.stringify(note),
          streams: ['user', 'user:notification'],
        },
      ];
    }
    if (e.type === 'message') return conversationEvents(ctx, viewerId, origin, e.data);
    return [];
  };
}

/** A subscription's key and the `stream` array its frames carry (`["hashtag", "cats"]`). */
export interface Subscription {
  key: string;
  stream: string[];
}

/**
 * Reads a subscription (`stream` plus `tag` or `list`), or answers why it is refused, as
 * Mastodon does. Public and hashtag streams are served by public-streams.ts (`public:remote*`
 * stay silent: no federation); a list is never found (kith has no lists).
 */
export function parseSubscription(
  params: Record<string, unknown>,
): Subscription | { error: string; status: number } {
  const name = params.stream;
  if (typeof name !== 'string' || !STREAMS.has(name))
    return { error: 'Unknown stream type', status: 400 };
  if (name.startsWith('hashtag')) {
    const tag = typeof params.tag === 'string' ? params.tag.replace(/^#/, '') : '';
    if (tag === '') return { error: 'No tag for stream provided', status: 400 };
    return { key: `${name}:${tag.toLowerCase()}`, stream: [name, tag] };
  }
  if (name === 'list') return { error: 'Not authorized to stream this list', status: 404 };
  return { key: name, stream: [name] };
}
