import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { PostsRepository, type HydratedPost } from '../posts/posts.repository.ts';
import { discoverableTo, userDiscoverableTo } from './discoverable.repository.ts';

/** Below this trigram similarity a name is no match (0.3, pg_trgm's default, misses "alcie"). */
const SIMILARITY = 0.2;

export interface RankedPost extends HydratedPost {
  rank: number;
}

export interface FoundUser {
  id: string;
  username: string;
  display_name: string;
  score: number;
}

/** Keyset positions: (relevance, id), both descending. */
export interface ScoreCursor {
  s: number;
  id: string;
}

// `%` and `_` are LIKE wildcards; tag names and usernames may hold `_`.
const likePrefix = (text: string) => `${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** SQL for search: posts by full text, people by trigrams, tags by prefix. */
export class SearchRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /**
   * Posts matching `q` (web search syntax, kith_search configuration) that the viewer may
   * discover, by relevance (ts_rank) and then newest first.
   */
  posts(
    viewerId: string | null,
    q: string,
    after: ScoreCursor | undefined,
    limit: number,
  ): Promise<RankedPost[]> {
    const query = sql`websearch_to_tsquery('kith_search', ${q})`;
    const rank = sql<number>`ts_rank(p.search_vector, ${query})`;
    let builder = new PostsRepository(this.#db)
      .selectHydrated(viewerId)
      .select(rank.as('rank'))
      .where(sql<boolean>`p.search_vector @@ ${query}`)
      .where(discoverableTo(viewerId))
      .orderBy(rank, 'desc')
      .orderBy('p.id', 'desc')
      .limit(limit);
    if (after) {
      builder = builder.where(
        sql<boolean>`(${rank}, p.id) < (${after.s}::real, ${after.id}::uuid)`,
      );
    }
    return builder.execute();
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
