import type { Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import type { HydratedPost } from '../posts/posts.repository.ts';
import { parseTag } from './tags.service.ts';
import { TimelinesRepository } from './timelines.repository.ts';

/**
 * The public timeline (every public post) and tag timelines (public posts carrying a tag),
 * newest first, without posts by users in a block with the viewer or muted by them.
 */
export class TimelinesService {
  readonly #repo: TimelinesRepository;
  constructor(db: Kysely<DB>) {
    this.#repo = new TimelinesRepository(db);
  }

  publicPosts(viewerId: string | null, beforeId: string | undefined, limit: number) {
    return this.#repo.publicPosts(viewerId, beforeId, limit);
  }

  /** The post as the viewer's public timeline would show it, or undefined (the same rule). */
  publicPost(viewerId: string | null, postId: string): Promise<HydratedPost | undefined> {
    return this.#repo.publicPost(viewerId, postId);
  }

  tagPosts(
    viewerId: string | null,
    rawTag: string,
    beforeId: string | undefined,
    limit: number,
  ): Promise<HydratedPost[]> {
    return this.#repo.tagPosts(viewerId, parseTag(rawTag), beforeId, limit);
  }
}
