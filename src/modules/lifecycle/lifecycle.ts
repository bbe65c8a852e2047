import type { Context } from '../../app/context.ts';
import { DeletionService } from './deletion.service.ts';
import { Eraser, type ErasureOptions } from './erasure.service.ts';
import { ExportFiles } from './export-files.ts';
import { ExportService } from './export.service.ts';

export interface Lifecycle {
  deletion: DeletionService;
  eraser: Eraser;
  exports: ExportService;
}

/** Rows per erasure batch, and how long a worker's claim on a deletion lasts without news. */
export const ERASURE_DEFAULTS: ErasureOptions = {
  batchSize: 500,
  leaseSeconds: 120,
  maxBatchesPerRun: 200,
};

const built = new WeakMap<Context, Lifecycle>();

/**
 * The module's services, built from the context once (the context itself stays as it is: the
 * module needs nothing from other modules that the context does not already hold).
 */
export function lifecycleOf(ctx: Context, erasure: Partial<ErasureOptions> = {}): Lifecycle {
  const existing = built.get(ctx);
  if (existing && Object.keys(erasure).length === 0) return existing;
  const { config, database, cache } = ctx;
  const files = new ExportFiles(config.dataDir);
  const made: Lifecycle = {
    deletion: new DeletionService(
      database.db,
      {
        users: ctx.users,
        cache,
        graceDays: config.accountDeletionGraceDays,
      },
      async (userId) => {
        ctx.activity.forget(userId);
        const message = { user_id: userId, suspended: false, deactivated: true };
        await ctx.accountStatus.announce(ctx.bus, message).catch((err: unknown) => {
          // The other nodes still read the account again within the status cache's lifetime.
          ctx.log.warn({ err, user_id: userId }, 'account status broadcast failed');
        });
      },
    ),
    eraser: new Eraser(
      {
        db: database.db,
        cache,
        timelines: ctx.timelines,
        redis: ctx.redis && { client: ctx.redis, prefix: config.redisPrefix },
        exports: files,
        media: ctx.mediaStorage,
        log: ctx.log,
      },
      { ...ERASURE_DEFAULTS, ...erasure },
    ),
    exports: new ExportService(
      database.db,
      { files, mailer: ctx.mailer, media: ctx.mediaStorage },
      {
        linkTtlHours: config.exportLinkTtlHours,
        minIntervalHours: config.exportMinIntervalHours,
        publicUrl: () => ctx.mailLinks.publicUrl,
      },
    ),
  };
  if (Object.keys(erasure).length === 0) built.set(ctx, made);
  return made;
}
