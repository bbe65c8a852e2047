import type { Kysely } from 'kysely';
import type { Cache } from '../../infra/cache/cache.ts';
import type { DB } from '../../infra/db/schema.ts';
import { OPEN_LANE, type Lane } from '../../infra/db/lane.ts';
import { cleanText } from '../../text.ts';
import { SearchRepository, type ScoreCursor } from './search.repository.ts';
import { parseTag, TagsService } from './tags.service.ts';
import { TimelinesService } from './timelines.service.ts';
import { TrendsService } from './trends.service.ts';

/** Longest query, in characters: enough for any phrase, short enough to parse cheaply. */
export const QUERY_MAX = 200;

export type SearchType = 'posts' | 'accounts' | 'tags';

/**
 * Search: posts the viewer may discover by full text, people by name, tags by prefix. Every
 * result goes through `discoverableTo` (posts) or the block rule (people). The queries run in
 * the database's slow lane: a crowd of searches cannot hold every connection.
 */
export class SearchService {
  readonly #repo: SearchRepository;
  readonly #slow: Lane;
  constructor(db: Kysely<DB>, slow: Lane = OPEN_LANE) {
    this.#repo = new SearchRepository(db);
    this.#slow = slow;
  }

  posts(viewerId: string | null, q: string, after: ScoreCursor | undefined, limit: number) {
    const text = query(q);
    return this.#slow.run(() => this.#repo.posts(viewerId, text, after, limit));
  }

  async accounts(
    viewerId: string | null,
    q: string,
    after: ScoreCursor | undefined,
    limit: number,
  ) {
    // A leading `@` is how people write a username.
    const text = query(q);
    const name = text.startsWith('@') ? text.slice(1) : text;
    if (name === '') return [];
    return this.#slow.run(() => this.#repo.people(viewerId, name, after, limit));
  }

  tags(viewerId: string | null, q: string, afterName: string | undefined, limit: number) {
    const tag = parseTag(query(q), '/q');
    return this.#slow.run(() => this.#repo.tags(viewerId, tag, afterName, limit));
  }
}

const query = (q: string) => cleanText(q, '/q', { min: 1, max: QUERY_MAX });

/** The services of finding things, built once by the context. */
export interface SearchServices {
  search: SearchService;
  tags: TagsService;
  timelines: TimelinesService;
  trends: TrendsService;
}

export function createSearchServices(db: Kysely<DB>, cache: Cache, slow: Lane): SearchServices {
  return {
    search: new SearchService(db, slow),
    tags: new TagsService(db),
    timelines: new TimelinesService(db),
    trends: new TrendsService(db, cache),
  };
}
