import { sql, type Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';
import { reachesPublic } from '../posts/visibility.repository.ts';

/** Distinct authors of one tag in one hour (UTC), or over the whole window (`hour` null). */
export interface TagUse {
  tag: string;
  hour: Date | null;
  accounts: number;
}

/** Uses of tags in one day (UTC, its start as seconds since the epoch). */
export interface DailyUse {
  tag: string;
  day: number;
  uses: number;
  accounts: number;
}

// What counts as a use: a tag in a public post by an author who is neither limited nor
// suspended (trends are the same for everyone).
const counted = sql`p.visibility = 'public' and ${reachesPublic('pt.author_id')}`;

// Uses of tags during the last 24 hours, by author and hour.
const recent = (authors?: readonly string[]) => sql`
  select pt.tag, pt.author_id, date_trunc('hour', pt.created_at) as hour
  from post_tags pt join posts p on p.id = pt.post_id
  where pt.created_at > now() - interval '24 hours' and ${counted}
    ${authors ? sql`and pt.author_id = any(${[...authors]}::uuid[])` : sql``}`;

/** SQL for trends: distinct authors per tag, per hour and over the last 24 hours. */
export class TrendsRepository {
  readonly #db: Kysely<DB>;
  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  /** The `top` tags used by the most distinct authors, with their hourly buckets. */
  async top(top: number): Promise<TagUse[]> {
    const { rows } = await sql<TagUse>`
      with recent as (${recent()}),
      top as (select tag, count(distinct author_id)::int as accounts from recent
              group by tag order by accounts desc, tag limit ${top})
      select tag, null::timestamptz as hour, accounts from top
      union all
      select r.tag, r.hour, count(distinct r.author_id)::int from recent r
      where r.tag in (select tag from top) group by r.tag, r.hour`.execute(this.#db);
    return rows;
  }

  /** The same counts restricted to `authors` (those hidden from a viewer) and `tags`. */
  async usesBy(authors: readonly string[], tags: readonly string[]): Promise<TagUse[]> {
    if (authors.length === 0 || tags.length === 0) return [];
    const { rows } = await sql<TagUse>`
      with recent as (${recent(authors)} and pt.tag = any(${[...tags]}::text[]))
      select tag, null::timestamptz as hour, count(distinct author_id)::int as accounts
      from recent group by tag
      union all
      select tag, hour, count(distinct author_id)::int from recent group by tag, hour`.execute(
      this.#db,
    );
    return rows;
  }

  /**
   * Uses and distinct authors of `tags` per UTC day over the last `days` days (today included),
   * leaving out the `hidden` authors; days without a use are absent.
   */
  async daily(
    tags: readonly string[],
    days: number,
    hidden: readonly string[],
  ): Promise<DailyUse[]> {
    if (tags.length === 0) return [];
    const day = sql`date_trunc('day', pt.created_at at time zone 'UTC')`;
    const { rows } = await sql<DailyUse>`
      select pt.tag, extract(epoch from ${day})::int as day, count(*)::int as uses,
        count(distinct pt.author_id)::int as accounts
      from post_tags pt join posts p on p.id = pt.post_id
      where pt.tag = any(${[...tags]}::text[]) and ${counted}
        and pt.created_at >= date_trunc('day', now() at time zone 'UTC') at time zone 'UTC'
          - make_interval(days => ${days - 1})
        and pt.author_id <> all(${[...hidden]}::uuid[])
      group by pt.tag, ${day}`.execute(this.#db);
    return rows;
  }

  /** Whom the viewer may not see: users in a block with them, either way. */
  async blockedWith(viewerId: string): Promise<string[]> {
    const { rows } = await sql<{ id: string }>`
      select blocked_id as id from blocks where blocker_id = ${viewerId}
      union select blocker_id from blocks where blocked_id = ${viewerId}`.execute(this.#db);
    return rows.map((r) => r.id);
  }
}
