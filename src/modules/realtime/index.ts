import type { FeatureModule } from '../../app/feature.ts';
import { StreamLog } from './stream-log.repository.ts';
import { streamRoutes } from './stream.routes.ts';

/** WebSocket and SSE streams: each user's ordered, resumable log of real-time events. */
export const realtimeModule: FeatureModule = {
  name: 'realtime',
  routes: [streamRoutes],
  housekeeping: (ctx) =>
    new StreamLog(ctx.database.db).purge(
      new Date(Date.now() - ctx.config.streamRetentionHours * 3_600_000),
    ),
};
