import type { Kysely } from 'kysely';
import { defineConsumer, type Consumer } from '../../events/consumer.ts';
import type { EventBus } from '../../infra/bus/bus.ts';
import type { DB } from '../../infra/db/schema.ts';
import type { Logger } from '../../logger.ts';
import { PUBLIC_POST_BROADCAST, type PublicPostNews } from './public-posts.schemas.ts';
import { TagsRepository } from './tags.repository.ts';

/**
 * Announces public posts to every API node (the bus's broadcast), once per event, so live public
 * and tag timelines (Mastodon's `public` and `hashtag` streams) need one listener per node and
 * no consumer of their own. Best effort, as Mastodon's streams: a lost broadcast is a missed
 * live update, the timelines themselves have the post.
 */
export function publicPostsConsumer(db: Kysely<DB>, bus: EventBus, log: Logger): Consumer {
  const tags = new TagsRepository(db);

  async function announce(news: Omit<PublicPostNews, 'tags'>) {
    let data: PublicPostNews = { ...news, tags: [] };
    if (news.kind !== 'deleted') {
      const post = await db
        .selectFrom('posts')
        .select('visibility')
        .where('id', '=', news.post_id)
        .executeTakeFirst();
      if (!post) return;
      if (post.visibility !== 'public') {
        // An edit that narrows a public post's audience takes it off live public timelines.
        if (news.kind !== 'edited') return;
        data = { ...data, kind: 'hidden' };
      } else data.tags = await tags.tagsOf(news.post_id);
    }
    await bus
      .broadcast({ type: PUBLIC_POST_BROADCAST, data: { ...data } })
      .catch((err: unknown) =>
        log.warn({ err, post_id: news.post_id }, 'public post broadcast failed'),
      );
  }

  return defineConsumer('public-posts', {
    'post.created': (d, e) =>
      announce({ event_id: e.id, kind: 'created', post_id: d.post_id, author_id: d.author_id }),
    'post.edited': (d, e) =>
      announce({ event_id: e.id, kind: 'edited', post_id: d.post_id, author_id: d.author_id }),
    'post.deleted': async (d, e) => {
      if (d.visibility !== undefined && d.visibility !== 'public') return;
      await announce({
        event_id: e.id,
        kind: 'deleted',
        post_id: d.post_id,
        author_id: d.author_id,
      });
    },
  });
}
