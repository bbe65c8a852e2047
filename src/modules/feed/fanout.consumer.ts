import type { Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import { scoreOfId, type TimelineStore } from '../../infra/timeline/timeline.ts';
import type { Consumer } from '../events/consumers.ts';

export const TIMELINE_CAP = 800;
const BATCH = 1_000;

/** The home timeline key of a user. */
export const homeTimeline = (userId: string) => `home:${userId}`;

/** Followers of `authorId`, a batch at a time, in id order (keyset, so each batch is one index scan). */
async function* followerBatches(db: Kysely<DB>, authorId: string): AsyncGenerator<string[]> {
  let after: string | undefined;
  for (;;) {
    let q = db
      .selectFrom('follows')
      .select('follower_id')
      .where('followee_id', '=', authorId)
      .orderBy('follower_id')
      .limit(BATCH);
    if (after !== undefined) q = q.where('follower_id', '>', after);
    const ids = (await q.execute()).map((r) => r.follower_id);
    if (ids.length === 0) return;
    yield ids;
    after = ids.at(-1);
    if (ids.length < BATCH) return;
  }
}

/**
 * Fan-out on write: a new post goes into the author's and each follower's home timeline, a
 * deleted one comes out. Only timelines that exist are touched; a missing one is rebuilt from
 * SQL when its owner reads it. Both effects are idempotent, so redelivery is harmless.
 */
export function fanoutConsumer(db: Kysely<DB>, timelines: TimelineStore): Consumer {
  return {
    group: 'feed',
    types: ['post.created', 'post.deleted'],
    handle: async (event) => {
      const { post_id: postId, author_id: authorId } = event.data as {
        post_id: string;
        author_id: string;
      };
      const apply = async (userIds: string[]) => {
        await Promise.all(
          userIds.map((id) =>
            event.type === 'post.created'
              ? timelines.push(homeTimeline(id), [{ id: postId, score: scoreOfId(postId) }], {
                  cap: TIMELINE_CAP,
                  onlyIfExists: true,
                })
              : timelines.remove(homeTimeline(id), [postId]),
          ),
        );
      };
      await apply([authorId]);
      for await (const batch of followerBatches(db, authorId)) await apply(batch);
    },
  };
}
