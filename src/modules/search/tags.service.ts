import type { Kysely } from 'kysely';
import { ValidationError } from '../../errors.ts';
import type { DB } from '../../infra/db/schema.ts';
import { tagName } from '../../text.ts';
import { TagsRepository } from './tags.repository.ts';

/** The tag named in a path or query, normalised; a 400 `invalid_tag` when it is no tag. */
export function parseTag(raw: string, path = '/tag'): string {
  const name = tagName(raw);
  if (name === undefined) {
    throw new ValidationError([
      {
        path,
        code: 'invalid_tag',
        message: 'must be letters, digits and underscores with at least one letter',
      },
    ]);
  }
  return name;
}

export interface TagFollowState {
  name: string;
  following: boolean;
  changed: boolean;
}

/** Following tags: their public posts join the follower's home feed (see the consumer). */
export class TagsService {
  readonly #tags: TagsRepository;
  constructor(db: Kysely<DB>) {
    this.#tags = new TagsRepository(db);
  }

  async follow(userId: string, rawTag: string): Promise<TagFollowState> {
    const name = parseTag(rawTag);
    const changed = await this.#tags.follow(userId, name);
    return { name, following: true, changed };
  }

  async unfollow(userId: string, rawTag: string): Promise<TagFollowState> {
    const name = parseTag(rawTag);
    const changed = await this.#tags.unfollow(userId, name);
    return { name, following: false, changed };
  }

  /** Which of `tags` (normalised names) the user follows. */
  followedAmong(userId: string, tags: readonly string[]): Promise<Set<string>> {
    return this.#tags.followedAmong(userId, tags);
  }

  /** The user's followed tags in name order, after `afterName`. */
  followed(userId: string, afterName: string | undefined, limit: number) {
    return this.#tags.followed(userId, afterName, limit);
  }
}
