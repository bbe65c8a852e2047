import type { FeatureModule } from '../../app/feature.ts';
import { notificationsConsumer } from './notifications.consumer.ts';
import { notificationsRoutes } from './notifications.routes.ts';

/** Notifications: written by a consumer from domain events, read and marked through the API. */
export const notificationsModule: FeatureModule = {
  name: 'notifications',
  routes: [notificationsRoutes],
  consumers: (ctx) => [notificationsConsumer(ctx.database.db, ctx.streams)],
};
