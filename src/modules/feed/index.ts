import type { FeatureModule } from '../../app/feature.ts';
import { streamAnnouncer } from '../realtime/publisher.service.ts';
import { coalesce } from './coalesce.ts';
import { feedConsumer } from './fanout.consumer.ts';
import { FeedRepository } from './feed.repository.ts';
import { feedRoutes } from './feed.routes.ts';

/** Home feeds: timelines kept by fan-out on write, read with an SQL fallback. */
export const feedModule: FeatureModule = {
  name: 'feed',
  routes: [feedRoutes],
  consumers: (ctx) => [
    feedConsumer(
      new FeedRepository(ctx.database.db),
      ctx.timelines,
      ctx.metrics,
      // Announcements of events handled at once share one transaction (one lock per user).
      coalesce(streamAnnouncer(ctx.database.db, ctx.streams)),
      {
        cap: ctx.config.feedTimelineCap,
        batch: ctx.config.feedFanoutBatch,
        inactiveDays: ctx.config.feedInactiveDays,
        concurrency: ctx.config.feedFanoutConcurrency,
      },
      (ids) => ctx.relations.forget(...ids),
    ),
  ],
};
