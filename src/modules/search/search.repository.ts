import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import { PLANNED_PER_RUN } from '../../infra/db/prepared.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { PostsRepository, type HydratedPost } from '../posts/posts.repository.ts';
import {
  discoverableInBulkTo,
  discoverableTo,
  userDiscoverableTo,
} from './discoverable.repository.ts';

/** Below this trigram similarity a name is no match (0.3, pg_trgm's default, misses "alcie"). */
const SIMILARITY = 0.2;

export interface RankedPost extends HydratedPost {
  rank: number;
  /** The oldest of the matches ranked for this search: later pages rank from it on. */
  floor: string;
}

export interface FoundUser {
  id: string;
  username: string;
  display_name: string;
  score: number;
}

/**
 * Keyset positions: (relevance, id), both descending. For posts, `f` is the oldest id of the
 * matches ranked on the first page: later pages rank the same matches (and any newer one).
 */
export interface ScoreCursor {
  s: number;
  id: string;
  f?: string;
}

/**
 * How many of the newest matches a search of posts ranks by relevance (docs/SEARCH.md
 * "Limits"): ranking needs every ranked post's vector from the table, so a word found in a
 * large share of posts must not make a search read all of them.
 */
export const RANKED_MATCHES = 200;

// `%` and `_` are LIKE wildcards; tag names and usernames may hold `_`.
const likePrefix = (text: string) => `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** SQL for search: posts by full text, people by trigrams, tags by prefix. */
export class SearchRepository {
  readonly #db: Kysely<DB>;
  readonly #rankedMatches: number;
  constructor(db: Kysely<DB>, rankedMatches = RANKED_MATCHES) {
    this.#db = db;
    this.#rankedMatches = rankedMatches;
  }

  /**
   * Posts matching `q` (web search syntax, kith_search configuration) that the viewer may
   * discover: the newest `rankedMatches` of them (from `after.f` on, for a later page), by
   * relevance (ts_rank) and then newest first.
   */
  async posts(
    viewerId: string | null,
    q: string,
    after: ScoreCursor | undefined,
    limit: number,
  ): Promise<RankedPost[]> {
    const query = sql`websearch_to_tsquery('kith_search', ${q})`;
    // The newest matches the viewer may discover, the privacy rule in the same query. A rare
    // word's matches come from the GIN index (all of them, then the newest); a frequent word's
    // by walking the newest posts by id until there are enough: the planner tells which from
    // the word's statistics, so the statement is planned for its values on every run.
    const newest = this.#db
      .selectFrom('posts as p')
      .select(['p.id', sql`p.search_vector`.as('vector')])
      .where(sql<boolean>`p.search_vector @@ ${query}`)
      .where(discoverableInBulkTo(viewerId))
      .orderBy('p.id', 'desc');
    // A later page ranks the first page's matches and any newer one: nothing leaves the set
    // between pages, so the keyset (rank, id) neither skips nor repeats a post. Still bounded
    // (twice the first page's set), so a cursor made up with an old `f` costs no more.
    const matches =
      after?.f === undefined
        ? newest.limit(this.#rankedMatches)
        : newest.where('p.id', '>=', after.f).limit(2 * this.#rankedMatches);
    const ranked = this.#db
      .selectFrom(matches.as('m'))
      .select([
        'm.id',
        sql<number>`ts_rank(m.vector, ${query})`.as('rank'),
        sql<string>`first_value(m.id) over (order by m.id)`.as('floor'),
      ]);
    let page = this.#db
      .selectFrom(ranked.as('r'))
      .selectAll('r')
      .orderBy('r.rank', 'desc')
      .orderBy('r.id', 'desc')
      .limit(limit);
    if (after) {
      page = page.where(sql<boolean>`(r.rank, r.id) < (${after.s}::real, ${after.id}::uuid)`);
    }
    // Only the page is hydrated (author, media, counters).
    const found = new PostsRepository(this.#db)
      .selectHydrated(viewerId)
      .innerJoin(page.as('c'), 'c.id', 'p.id')
      .select(['c.rank', 'c.floor'])
      .orderBy('c.rank', 'desc')
      .orderBy('c.id', 'desc');
    const { rows } = await sql<RankedPost>`${sql.raw(PLANNED_PER_RUN)} ${found}`.execute(this.#db);
    return rows;
  }

  /**
   * People whose username or display name is like `q`, accents and case folded: a username
   * starting with it first, then by trigram similarity. Nobody in a block with the viewer.
   */
  people(
    viewerId: string | null,
    q: string,
    after: ScoreCursor | undefined,
    limit: number,
  ): Promise<FoundUser[]> {
    const folded = sql`kith_fold(${q})`;
    const prefix = likePrefix(q.normalize('NFKC').toLowerCase());
    const score = sql<number>`(greatest(similarity(u.username, ${folded}),
      similarity(kith_fold(u.display_name), ${folded}))
      + case when u.username like ${prefix} then 1 else 0 end)::real`;
    const position = after
      ? sql`and (${score}, u.id) < (${after.s}::real, ${after.id}::uuid)`
      : sql``;
    return transaction(this.#db, async (trx) => {
      // `%` uses this threshold, and it is what lets the trigram indexes answer.
      await sql`select set_config('pg_trgm.similarity_threshold', ${String(SIMILARITY)}, true)`.execute(
        trx,
      );
      const { rows } = await sql<FoundUser>`
        select u.id, u.username, u.display_name, ${score} as score from users u
        where (u.username % ${folded} or kith_fold(u.display_name) % ${folded}
               or u.username like ${prefix})
          and ${userDiscoverableTo(viewerId, 'u.id')} ${position}
        order by score desc, u.id desc limit ${limit}`.execute(trx);
      return rows;
    });
  }

  /** Tags starting with `prefix` used in at least one post the viewer may discover, by name. */
  async tags(
    viewerId: string | null,
    prefix: string,
    afterName: string | undefined,
    limit: number,
  ): Promise<string[]> {
    const after = afterName === undefined ? sql`` : sql`and t.name > ${afterName}`;
    const { rows } = await sql<{ name: string }>`
      select t.name from tags t
      where t.name like ${likePrefix(prefix)} ${after}
        and exists (select 1 from post_tags pt join posts p on p.id = pt.post_id
          where pt.tag = t.name and ${discoverableTo(viewerId)})
      order by t.name limit ${limit}`.execute(this.#db);
    return rows.map((r) => r.name);
  }
}
