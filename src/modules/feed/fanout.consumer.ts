import type { Visibility } from '../../infra/db/schema.ts';
import type { Metrics } from '../../infra/metrics.ts';
import type { TimelineStore } from '../../infra/timeline/timeline.ts';
import { defineConsumer, type Consumer } from '../../events/consumer.ts';
import type { EventMap } from '../../events/event-map.ts';
import { coalesce } from './coalesce.ts';
import type { FeedRepository } from './feed.repository.ts';
import { entryOf } from '../../infra/timeline/timeline.ts';
import { homeTimeline } from './feed.service.ts';
import { authorTimeline, PENDING, pendingEntry } from './merge-sources.ts';
import type { Announcement } from '../realtime/publisher.service.ts';

export interface FanoutOptions {
  /** Entries kept per home timeline. */
  cap: number;
  /** Followers fanned out to at once: one follower query and one timeline-store call each. */
  batch: number;
  /** Followers idle for longer are skipped (their timeline is dropped, rebuilt when they return). */
  inactiveDays: number;
  /** Events this consumer handles at once (per worker process). */
  concurrency: number;
}

const DAY_MS = 86_400_000;

/**
 * Appends one event to the streams of some users, once per (event, batch); see realtime. Calls
 * made while one is being applied are gathered into the next (see index.ts and coalesce).
 */
export type Announce = (announcement: Announcement) => Promise<void>;

/**
 * The feed consumer keeps home timelines in step with posts and the graph. Every effect is
 * idempotent (adding or removing ids), and graph changes are applied from the current state in
 * SQL rather than from the event, so redelivery and reordering leave timelines right. Only
 * timelines that exist are touched; a missing one is rebuilt from SQL when its owner reads it.
 */
export function feedConsumer(
  repo: FeedRepository,
  timelines: TimelineStore,
  metrics: Metrics,
  announce: Announce,
  opts: FanoutOptions,
  /** Drops users' cached relations (which tell readers whose posts to merge). */
  forgetRelations: (userIds: string[]) => Promise<void>,
): Consumer {
  /**
   * Applies a change to every follower, batch by batch: active ones (ids) and idle ones, and
   * (with `visibility`) those who may see such a post of the author now. One batch at a time, so
   * a worker stopped mid-way has applied a prefix of the followers.
   */
  async function fanOut(
    authorId: string,
    apply: (active: string[], idle: string[], may: Set<string>) => Promise<unknown>,
    /** Whether the batches count as fan-out (kith_feed_fanout_batch_size). */
    counted = true,
    visibility?: Visibility,
  ) {
    const activeSince = new Date(Date.now() - opts.inactiveDays * DAY_MS);
    let after: string | undefined;
    for (;;) {
      const batch = await repo.followerBatch(authorId, after, opts.batch, activeSince, visibility);
      if (batch.length === 0) return;
      const ids = (active: boolean) => batch.filter((f) => f.active === active).map((f) => f.id);
      const may = new Set(batch.filter((f) => f.may).map((f) => f.id));
      await apply(ids(true), ids(false), may);
      if (counted) metrics.feedFanoutBatch.observe(batch.length);
      if (batch.length < opts.batch) return;
      after = batch.at(-1)!.id;
    }
  }

  // Posts whose fan-out completed are marked in one UPDATE for all that finish together.
  const fannedOut = coalesce((postIds: string[]) => repo.fannedOut(postIds));

  /**
   * Places a new post: in its author's timeline, then in every follower's (unless the author is
   * a big account, whose posts are merged when read), and only then takes it off the pending
   * list that readers merge from meanwhile. A failure throws and the event is retried.
   */
  async function created(eventId: string, { post_id, author_id }: EventMap['post.created']) {
    const post = await repo.findPost(post_id);
    if (post) {
      const entry = [entryOf(post.id)];
      await timelines.push(authorTimeline(post.author_id), entry, {
        cap: opts.cap,
        onlyIfExists: true,
      });
      if (post.fan_out) await fanOutPost(eventId, post, entry);
      else if (!(await repo.wasBig(post.author_id, post.id))) await becameBig(post.author_id);
      // Only once every push succeeded: until then readers merge the post from SQL.
      await fannedOut(post.id);
      if (post.fan_out) {
        metrics.feedFanoutLag.observe((Date.now() - post.created_at.getTime()) / 1000);
      }
    }
    await timelines.remove(PENDING, [pendingEntry(post_id, author_id).id]);
  }

  // The walks under way, by author: posts of a new big account handled at once share one.
  const telling = new Map<string, Promise<void>>();

  /**
   * The author just became a big account: their followers' cached relations must learn to
   * merge their posts. Not a fan-out: nothing is added to timelines.
   */
  function becameBig(authorId: string): Promise<void> {
    let walk = telling.get(authorId);
    if (!walk) {
      const forget = (active: string[], idle: string[]) => forgetRelations([...active, ...idle]);
      walk = fanOut(authorId, forget, false).finally(() => telling.delete(authorId));
      telling.set(authorId, walk);
    }
    return walk;
  }

  async function fanOutPost(
    eventId: string,
    post: NonNullable<Awaited<ReturnType<FeedRepository['findPost']>>>,
    entry: ReturnType<typeof entryOf>[],
  ) {
    const data = { post_id: post.id, author_id: post.author_id };
    await fanOut(
      post.author_id,
      async (active, idle, may) => {
        const [written] = await Promise.all([
          timelines.pushMany(active.map(homeTimeline), entry, {
            cap: opts.cap,
            onlyIfExists: true,
          }),
          timelines.delete(...idle.map(homeTimeline)),
        ]);
        // Streams hear of it where a timeline took it (users who read their feed lately), and
        // only those who may see it: the timeline holds every followee's post (reads filter it),
        // but an announcement is itself a read of the post's id and author.
        const userIds = active.filter((id, i) => written[i] && may.has(id));
        await announce({ eventId, userIds, type: 'feed.post', data });
      },
      true,
      post.visibility,
    );
  }

  /**
   * Tells the streams of active followers who may see the post that it changed (Mastodon's
   * `status.update`). Only for posts that were fanned out: a big account's new posts reach no
   * stream either.
   */
  async function edited(eventId: string, { post_id }: EventMap['post.edited']) {
    const post = await repo.findPost(post_id);
    if (!post?.fan_out) return;
    const data = { post_id, author_id: post.author_id };
    await fanOut(
      post.author_id,
      (active, _idle, may) =>
        announce({
          eventId,
          userIds: active.filter((id) => may.has(id)),
          type: 'post.edited',
          data,
        }),
      true,
      post.visibility,
    );
  }

  async function deleted(
    eventId: string,
    { post_id, author_id, fan_out, visibility }: EventMap['post.deleted'],
  ) {
    await timelines.remove(authorTimeline(author_id), [post_id]);
    if (fan_out === false) return;
    // Told only to those who may see such a post now. An older event without the visibility
    // is taken as `friends`, the narrowest: friends may see every post of the author.
    await fanOut(
      author_id,
      async (active, idle, may) => {
        await timelines.removeMany([...active, ...idle].map(homeTimeline), [post_id]);
        await announce({
          eventId,
          userIds: active.filter((id) => may.has(id)),
          type: 'post.deleted',
          data: { post_id, author_id },
        });
      },
      true,
      visibility ?? 'friends',
    );
  }

  /**
   * Makes `userId`'s timeline hold `authorId`'s posts exactly when they follow them now. After a
   * removal the state is read again: a follow that landed meanwhile gets its posts back.
   */
  async function sync(userId: string, authorId: string) {
    const key = homeTimeline(userId);
    const merge = async () => {
      // One more than fits, so the floor rises past the author's older posts if they have more.
      const ids = await repo.recentPostIds(authorId, opts.cap + 1, true);
      await timelines.push(key, ids.map(entryOf), { cap: opts.cap, onlyIfExists: true });
    };
    if (await repo.follows(userId, authorId)) return merge();
    // Timelines hold fanned-out posts only: those are the ones to take out.
    await timelines.remove(key, await repo.recentPostIds(authorId, opts.cap, true));
    if (await repo.follows(userId, authorId)) await merge();
  }

  return defineConsumer(
    'feed',
    {
      'post.created': (d, event) => created(event.id, d),
      'post.edited': (d, event) => edited(event.id, d),
      'post.deleted': (d, event) => deleted(event.id, d),
      'follow.created': (d) => sync(d.follower_id, d.followee_id),
      'follow.removed': (d) => sync(d.follower_id, d.followee_id),
      'block.created': async (d) => {
        await sync(d.blocker_id, d.blocked_id);
        await sync(d.blocked_id, d.blocker_id);
      },
    },
    { concurrency: opts.concurrency },
  );
}
