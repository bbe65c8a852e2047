import type { Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { DB } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import type { Cache } from '../../infra/cache/cache.ts';
import type { MediaStorage } from '../../infra/storage/storage.ts';
import type { TimelineStore } from '../../infra/timeline/timeline.ts';
import type { Logger } from '../../logger.ts';
import { homeTimeline } from '../feed/feed.service.ts';
import { RelationsCache } from '../social/relations.cache.ts';
import { DeletionsRepository } from './deletions.repository.ts';
import { ErasureRepository, type StepResult } from './erasure.repository.ts';
import type { ExportFiles } from './export-files.ts';
import { ExportsRepository } from './exports.repository.ts';

/**
 * The erasure's phases, in order. Media first (every file the user owns: pictures of posts,
 * uploads never attached, and whatever else the media table holds for them), their files
 * before their rows. Posts go while the user's followers are still known (their home timelines
 * hold the posts); the user row goes last, in `finish`.
 */
export const PHASES = [
  'media',
  'likes',
  'comments',
  'posts',
  'notifications',
  'follows',
  'friendships',
  'edges',
  'conversations',
  'mentions',
] as const;
type Phase = (typeof PHASES)[number];

export interface ErasureDeps {
  db: Kysely<DB>;
  cache: Cache;
  timelines: TimelineStore;
  /** Set with REDIS_URL: keys naming the user (rate-limit counters, …) are swept by pattern. */
  redis?: { client: Redis; prefix: string } | undefined;
  exports: ExportFiles;
  /** Where the user's media files are: removed before their rows, so a crash loses none. */
  media: MediaStorage;
  log: Logger;
}

export interface ErasureOptions {
  batchSize: number;
  leaseSeconds: number;
  /** Batches one `runDue` call may run, so housekeeping stays short; the rest waits for the next. */
  maxBatchesPerRun: number;
  /** Test hook: called after every committed batch (a throw stands for a crash). */
  afterBatch?: (userId: string, batches: number) => Promise<void> | void;
}

/**
 * Erases accounts whose grace period has ended, in the worker (housekeeping), a batch per
 * transaction. Progress is stored with each batch, so after a crash the next run (here or on
 * another worker, once the claim's lease passes) resumes at the phase it had reached; every
 * step deletes "whatever is left", so running one again is harmless.
 */
export class Eraser {
  readonly #deps: ErasureDeps;
  readonly #opts: ErasureOptions;
  readonly #relations: RelationsCache;

  constructor(deps: ErasureDeps, opts: ErasureOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#relations = new RelationsCache(deps.db, deps.cache);
  }

  /** Erases due accounts until none is left or the batch budget is spent; returns how many. */
  async runDue(): Promise<number> {
    const deletions = new DeletionsRepository(this.#deps.db);
    let budget = this.#opts.maxBatchesPerRun;
    let erased = 0;
    while (budget > 0) {
      const due = await deletions.claimDue(this.#opts.leaseSeconds);
      if (!due) break;
      try {
        const outcome = await this.#erase(due.user_id, due.phase, budget);
        budget = outcome.budget;
        if (outcome.erased) erased += 1;
        else await deletions.release(due.user_id); // the budget ran out: the next run goes on
      } catch (err) {
        await deletions.release(due.user_id).catch(() => {});
        throw err;
      }
    }
    return erased;
  }

  /** Runs batches from `phase` on, while the budget lasts. */
  async #erase(
    userId: string,
    phase: string,
    budget: number,
  ): Promise<{ erased: boolean; budget: number }> {
    let current = phase === 'started' ? PHASES[0] : phase;
    while (current !== 'finish') {
      if (budget <= 0) return { erased: false, budget };
      const next = await this.#batch(userId, current as Phase);
      if (next === undefined) return { erased: false, budget }; // finished elsewhere meanwhile
      current = next;
      budget -= 1;
    }
    await this.#finish(userId);
    return { erased: true, budget };
  }

  /** One batch of `phase` in one transaction; the phase to run next. */
  async #batch(userId: string, phase: Phase): Promise<string | undefined> {
    const { timelines, cache } = this.#deps;
    const size = this.#opts.batchSize;
    // Posts leave their readers' timelines first: a retry after a failure removes them again.
    let picked: string[] = [];
    if (phase === 'media') {
      // Files first, rows in the transaction below: a crash in between finds the rows again
      // and deleting a missing file is no error.
      const rows = await new ErasureRepository(this.#deps.db).nextMedia(userId, size);
      picked = rows.map((r) => r.id);
      await this.#deps.media.delete(rows.flatMap((r) => [r.original_key, r.preview_key]));
    }
    if (phase === 'posts') {
      const repo = new ErasureRepository(this.#deps.db);
      picked = await repo.nextPosts(userId, size);
      if (picked.length > 0) {
        const readers = [userId, ...(await repo.followerIds(userId))];
        await Promise.all(readers.map((id) => timelines.remove(homeTimeline(id), picked)));
        // Their cached contents and counters, and the likers' cached "liked" lists.
        const likers = await repo.likerIds(picked);
        await cache.delete(
          ...picked.flatMap((id) => [`post:${id}`, `counts:${id}`]),
          ...likers.map((id) => `liked:${id}`),
        );
      }
    }
    const outcome = await transaction(this.#deps.db, async (trx) => {
      const deletions = new DeletionsRepository(trx);
      const row = await deletions.lock(userId);
      if (!row) return undefined;
      const result = await runStep(new ErasureRepository(trx), phase, userId, size, picked);
      const next = result.removed === 0 ? nextPhase(phase) : phase;
      await deletions.advance(userId, next, this.#opts.leaseSeconds);
      return { next, touched: result.touched, batches: row.batches + 1 };
    });
    if (!outcome) return undefined;
    if (outcome.touched.length > 0) await this.#relations.changed(...outcome.touched);
    await this.#opts.afterBatch?.(userId, outcome.batches);
    return outcome.next;
  }

  /**
   * Removes the user row in one transaction that first locks it (a follow or friendship being
   * made meanwhile updates that row, so it waits) and sweeps whatever was added since its phase
   * ran, so the cascade never takes a counted row off uncounted. Then caches and keys.
   */
  async #finish(userId: string): Promise<void> {
    const touched: string[] = [];
    let username: string | undefined;
    const files = await new ExportsRepository(this.#deps.db).filesOf(userId);
    // Media added since the media phase ran (an upload that was in flight): files, then rows.
    for (;;) {
      const rows = await new ErasureRepository(this.#deps.db).nextMedia(userId, 10_000);
      if (rows.length === 0) break;
      await this.#deps.media.delete(rows.flatMap((r) => [r.original_key, r.preview_key]));
      await new ErasureRepository(this.#deps.db).deleteMedia(rows.map((r) => r.id));
    }
    await transaction(this.#deps.db, async (trx) => {
      const repo = new ErasureRepository(trx);
      const user = await repo.lockUser(userId);
      if (user) {
        for (const phase of PHASES) {
          // Media rows left here lost their files above; one added since goes with the cascade
          // of the user row (kept out of this loop: its files must go before its row).
          if (phase === 'media') continue;
          for (;;) {
            const ids = phase === 'posts' ? await repo.nextPosts(userId, 10_000) : [];
            const { removed, touched: t } = await runStep(repo, phase, userId, 10_000, ids);
            touched.push(...t);
            if (removed === 0) break;
          }
        }
        await repo.removeUser(userId, user.username, user.email);
        username = user.username;
      }
      await new DeletionsRepository(trx).remove(userId);
    });
    if (touched.length > 0) await this.#relations.changed(...new Set(touched));
    await this.#forgetCaches(userId, username);
    await this.#deps.exports.remove(files);
    this.#deps.log.info({ user_id: userId }, 'account erased');
  }

  async #forgetCaches(userId: string, username: string | undefined): Promise<void> {
    const { cache, timelines, redis } = this.#deps;
    await cache.delete(
      `user-id:${userId}`,
      `relations:${userId}`,
      ...(username ? [`user-ref:${username}`] : []),
    );
    await timelines.delete(homeTimeline(userId));
    if (!redis) return;
    // Whatever else names the user under our prefix (rate-limit counters keyed by account, …).
    const match = `${redis.prefix}*${userId}*`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.client.scan(cursor, 'MATCH', match, 'COUNT', 500);
      if (keys.length > 0) await redis.client.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  }
}

function nextPhase(phase: Phase): string {
  return PHASES[PHASES.indexOf(phase) + 1] ?? 'finish';
}

async function runStep(
  repo: ErasureRepository,
  phase: Phase,
  userId: string,
  limit: number,
  picked: readonly string[],
): Promise<StepResult> {
  const counted = (removed: number): StepResult => ({ removed, touched: [] });
  switch (phase) {
    case 'media':
      // The media rows whose files were removed before this transaction.
      return counted(await repo.deleteMedia(picked));
    case 'likes':
      return counted(await repo.likes(userId, limit));
    case 'comments':
      return counted(await repo.comments(userId, limit));
    case 'posts':
      return counted(await repo.deletePosts(picked));
    case 'notifications':
      return counted(await repo.notifications(userId, limit));
    case 'follows':
      return repo.follows(userId, limit);
    case 'friendships':
      return repo.friendships(userId, limit);
    case 'edges':
      return repo.edges(userId, limit);
    case 'conversations':
      return counted(await repo.conversations(userId, limit));
    case 'mentions':
      return counted(await repo.mentions(userId, limit));
  }
}
