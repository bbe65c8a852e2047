import type { FeatureModule } from '../../app/feature.ts';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { adminRoutes } from './admin.routes.ts';
import { moderationConsumer } from './moderation.consumer.ts';
import { reportsRoutes } from './reports.routes.ts';

/**
 * Every API node keeps its cache of suspended accounts current from the broadcasts of every
 * other node (a suspension takes effect everywhere at once).
 */
function accountStatusListener(ctx: Context) {
  return async (app: App) => {
    const subscription = await ctx.accountStatus.listen(ctx.bus);
    app.addHook('onClose', () => subscription.stop());
  };
}

/** Roles, reports, moderator actions (suspend, limit, delete) and the audit log. */
export const moderationModule: FeatureModule = {
  name: 'moderation',
  routes: [accountStatusListener, reportsRoutes, adminRoutes],
  consumers: (ctx) => [moderationConsumer(ctx.database.db, ctx.streams, ctx.mailer, ctx.log)],
};
