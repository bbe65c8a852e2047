import type { FeatureModule } from '../../app/feature.ts';
import { lifecycleConsumer } from './lifecycle.consumer.ts';
import { lifecycleRoutes } from './lifecycle.routes.ts';
import { lifecycleOf } from './lifecycle.ts';

/** Leaving kith: account deletion (deactivation, then erasure) and data export. */
export const lifecycleModule: FeatureModule = {
  name: 'lifecycle',
  routes: [lifecycleRoutes],
  consumers: (ctx) => [lifecycleConsumer(ctx)],
  housekeeping: async (ctx) => {
    const { eraser, exports } = lifecycleOf(ctx);
    await exports.purgeExpired();
    await eraser.runDue();
  },
};
