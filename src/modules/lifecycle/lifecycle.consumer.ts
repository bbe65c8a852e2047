import type { Context } from '../../app/context.ts';
import { defineConsumer } from '../../events/consumer.ts';
import { lifecycleOf } from './lifecycle.ts';

/**
 * Builds data exports. Idempotent: only a pending export is built, and it stops being pending
 * in the same statement that records the result.
 */
export function lifecycleConsumer(ctx: Context) {
  return defineConsumer('lifecycle', {
    'export.requested': async (data) => {
      await lifecycleOf(ctx).exports.build(data.export_id);
    },
  });
}
