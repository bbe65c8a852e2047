import type { Context } from '../../app/context.ts';
import { tagName } from '../../text.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import { PUBLIC_POST_BROADCAST, type PublicPostNews } from '../search/public-posts.schemas.ts';
import { StatusPresenter } from './statuses.presenter.ts';

/** One socket as the public streams see it: who reads, and what it is subscribed to now. */
export interface PublicListener {
  readonly viewerId: string;
  readonly origin: string;
  /** The socket's subscriptions (key → the `stream` array its frames carry); read live. */
  readonly subscribed: ReadonlyMap<string, string[]>;
  send(stream: string[], event: 'update' | 'status.update' | 'delete', payload: string): void;
}

/** Event ids remembered per node (a redelivered broadcast is dropped), and post ids shown. */
const REMEMBERED = 5_000;
/** Viewers whose copy of a post is read at once (one query each). */
const VIEWERS_AT_ONCE = 8;

/**
 * The streams of `subscribed` a public post belongs to: `public` and `public:local` (every kith
 * post is local), their `:media` variants when it has media (`media` undefined: any), `hashtag`
 * and `hashtag:local` of one of its tags (`tags` undefined: any). `public:remote*` never (no
 * federation).
 */
export function streamsFor(
  subscribed: ReadonlyMap<string, string[]>,
  tags: readonly string[] | undefined,
  media: boolean | undefined,
): string[][] {
  const out: string[][] = [];
  for (const stream of subscribed.values()) {
    const [name, tag] = stream;
    if (name === 'public' || name === 'public:local') out.push(stream);
    else if (name === 'public:media' || name === 'public:local:media') {
      if (media !== false) out.push(stream);
    } else if (name === 'hashtag' || name === 'hashtag:local') {
      const wanted = tagName(tag ?? '');
      if (tags === undefined || (wanted !== undefined && tags.includes(wanted))) out.push(stream);
    }
  }
  return out;
}

/** A set that forgets its oldest entries past REMEMBERED. */
function remember(set: Set<string>, value: string): void {
  set.add(value);
  if (set.size > REMEMBERED) set.delete(set.values().next().value!);
}

/**
 * Mastodon's `public*` and `hashtag*` streams on this API node: one listener on the bus's
 * `public.post` broadcast (the search module sends it once per public post written, edited or
 * deleted) fans each post out to the node's subscribed sockets. Each viewer's copy is read
 * through kith's public-timeline rule (`TimelinesService.publicPost`: visibility, blocks
 * either way, mutes, limited authors), so a stream shows exactly what the timeline would.
 * Posts are handled one after another, in the order the node hears of them.
 */
export class PublicStreams {
  readonly #ctx: Pick<Context, 'bus' | 'search' | 'database' | 'log' | 'users'>;
  readonly #listeners = new Set<PublicListener>();
  readonly #seen = new Set<string>();
  readonly #shown = new Set<string>();
  #chain = Promise.resolve();

  constructor(ctx: Pick<Context, 'bus' | 'search' | 'database' | 'log' | 'users'>) {
    this.#ctx = ctx;
  }

  /** Starts listening; returns what stops it. */
  async start(): Promise<() => Promise<void>> {
    const subscription = await this.#ctx.bus.onBroadcast((message) => {
      if (message.type === PUBLIC_POST_BROADCAST) this.#hear(message.data as never);
    });
    return async () => {
      await subscription.stop();
      await this.#chain;
    };
  }

  /** Adds a socket; returns what removes it. */
  listen(listener: PublicListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Resolves once every post heard so far was handled (tests). */
  settled(): Promise<void> {
    return this.#chain;
  }

  #hear(news: PublicPostNews): void {
    if (this.#seen.has(news.event_id)) return;
    remember(this.#seen, news.event_id);
    this.#chain = this.#chain
      .then(() => this.#dispatch(news))
      .catch((err: unknown) =>
        this.#ctx.log.warn({ err, post_id: news.post_id }, 'public stream update dropped'),
      );
  }

  async #dispatch(news: PublicPostNews): Promise<void> {
    const gone = news.kind === 'deleted' || news.kind === 'hidden';
    const targets = [...this.#listeners].filter(
      (l) => streamsFor(l.subscribed, gone ? undefined : news.tags, undefined).length > 0,
    );
    if (targets.length === 0) return;
    if (gone) {
      if (news.kind === 'hidden' && !this.#shown.has(news.post_id)) return;
      for (const l of targets) this.#withdraw(l, news.post_id);
      return;
    }
    const byViewer = new Map<string, PublicListener[]>();
    for (const l of targets) byViewer.set(l.viewerId, [...(byViewer.get(l.viewerId) ?? []), l]);
    const viewers = [...byViewer.keys()];
    for (let i = 0; i < viewers.length; i += VIEWERS_AT_ONCE) {
      await Promise.all(
        viewers.slice(i, i + VIEWERS_AT_ONCE).map(async (viewerId) => {
          const post = await this.#ctx.search.timelines.publicPost(viewerId, news.post_id);
          for (const l of byViewer.get(viewerId)!) await this.#deliver(l, news, post);
        }),
      );
    }
    if (news.kind === 'created') remember(this.#shown, news.post_id);
  }

  async #deliver(l: PublicListener, news: PublicPostNews, post: HydratedPost | undefined) {
    if (!post) {
      // An edit this viewer may no longer see (a block since, a narrower audience): withdrawn.
      if (news.kind === 'edited' && this.#shown.has(news.post_id)) this.#withdraw(l, news.post_id);
      return;
    }
    const streams = streamsFor(l.subscribed, news.tags, post.media.length > 0);
    if (streams.length === 0) return;
    const status = await new StatusPresenter(this.#ctx.users, l.origin).one(post);
    const payload = JSON.stringify(status);
    const event = news.kind === 'created' ? 'update' : 'status.update';
    for (const stream of streams) l.send(stream, event, payload);
  }

  #withdraw(l: PublicListener, postId: string): void {
    for (const stream of streamsFor(l.subscribed, undefined, undefined))
      l.send(stream, 'delete', postId);
  }
}
