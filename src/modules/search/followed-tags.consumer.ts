import type { Kysely } from 'kysely';
import { defineConsumer, type Consumer } from '../../events/consumer.ts';
import type { DB } from '../../infra/db/schema.ts';
import type { TimelineStore } from '../../infra/timeline/timeline.ts';
import { entryOf } from '../../infra/timeline/timeline.ts';
import { homeTimeline } from '../feed/feed.service.ts';
import { TagsRepository } from './tags.repository.ts';

export interface FollowedTagsOptions {
  /** Entries kept per home timeline (as the feed's fan-out). */
  cap: number;
  /** Tag followers pushed to at once. */
  batch: number;
}

/**
 * Puts public posts into the home timelines of the people following one of their tags. Only
 * timelines that exist are touched (a missing one is rebuilt from the follow graph when read,
 * without tag posts); pushing an id twice is harmless, so redelivery is safe. Reads check
 * visibility, blocks and mutes again, and drop ids whose post is gone.
 */
export function followedTagsConsumer(
  db: Kysely<DB>,
  timelines: TimelineStore,
  opts: FollowedTagsOptions,
): Consumer {
  const tags = new TagsRepository(db);

  async function deliver(postId: string, authorId: string) {
    const post = await db
      .selectFrom('posts')
      .select(['id', 'visibility'])
      .where('id', '=', postId)
      .executeTakeFirst();
    if (post?.visibility !== 'public') return;
    const names = await tags.tagsOf(postId);
    if (names.length === 0) return;
    const entry = [entryOf(postId)];
    let after: string | undefined;
    for (;;) {
      const batch = await tags.followerBatch(names, after, opts.batch);
      const readers = batch.filter((id) => id !== authorId);
      await Promise.all(
        readers.map((id) =>
          timelines.push(homeTimeline(id), entry, { cap: opts.cap, onlyIfExists: true }),
        ),
      );
      if (batch.length < opts.batch) return;
      after = batch.at(-1);
    }
  }

  return defineConsumer('followed-tags', {
    // Most posts have no hashtag: nothing to read (an older event without the flag is looked at).
    'post.created': async (d) => {
      if (d.tags !== false) await deliver(d.post_id, d.author_id);
    },
    // An edit may add a tag, or make the post public.
    'post.edited': (d) => deliver(d.post_id, d.author_id),
  });
}
