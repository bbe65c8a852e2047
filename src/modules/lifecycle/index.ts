import type { Context } from '../../app/context.ts';
import type { FeatureModule } from '../../app/feature.ts';
import { lifecycleConsumer } from './lifecycle.consumer.ts';
import { lifecycleRoutes } from './lifecycle.routes.ts';
import { lifecycleOf } from './lifecycle.ts';

/** The erasure run in progress in each context, so runs never overlap within a process. */
const erasing = new WeakMap<Context, Promise<void>>();

/**
 * Erasing an account can take many batches: it runs beside housekeeping, not inside it, since
 * housekeeping shares the outbox relay's loop and would hold up every event meanwhile.
 */
function eraseInBackground(ctx: Context): void {
  if (erasing.has(ctx)) return;
  const run = lifecycleOf(ctx)
    .eraser.runDue()
    .then(() => {})
    .catch((err: unknown) => {
      // Progress is saved per batch: the next run (here or elsewhere) resumes.
      ctx.log.warn({ err }, 'account erasure stopped; the next housekeeping run resumes it');
    })
    .finally(() => erasing.delete(ctx));
  erasing.set(ctx, run);
}

/** Leaving kith: account deletion (deactivation, then erasure) and data export. */
export const lifecycleModule: FeatureModule = {
  name: 'lifecycle',
  routes: [lifecycleRoutes],
  consumers: (ctx) => [lifecycleConsumer(ctx)],
  housekeeping: async (ctx) => {
    await lifecycleOf(ctx).exports.purgeExpired();
    eraseInBackground(ctx);
  },
};
