import { sql, type Kysely } from 'kysely';
import type { Redis } from 'ioredis';
import type { DB } from '../../infra/db/schema.ts';

/**
 * Audits after an erasure (used by the tests and usable from a console): where a value still
 * appears, searched in every text-like column of every table of the schema and every Redis key
 * under a prefix, and which stored counters differ from a recount of their rows.
 */

const TEXT_TYPES = ['uuid', 'text', 'character varying', 'jsonb', 'json', 'ARRAY'];

/** `table.column` of every row whose value contains one of `needles`, except `allowed` ones. */
export async function rowsMentioning(
  db: Kysely<DB>,
  needles: readonly string[],
  allowed: readonly string[] = [],
): Promise<string[]> {
  const { rows: columns } = await sql<{ table_name: string; column_name: string }>`
    select c.table_name, c.column_name from information_schema.columns c
    join information_schema.tables t
      on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
      and c.data_type in (${sql.join(TEXT_TYPES)})
    order by 1, 2`.execute(db);
  const found: string[] = [];
  for (const { table_name: table, column_name: column } of columns) {
    const where = `${table}.${column}`;
    if (allowed.includes(where)) continue;
    for (const needle of needles) {
      const { rows } = await sql<{ n: number }>`
        select count(*)::int as n from ${sql.table(table)}
        where ${sql.ref(column)}::text like ${`%${needle}%`}`.execute(db);
      if (Number(rows[0]?.n) > 0) found.push(`${where} (${rows[0]?.n}× ${needle})`);
    }
  }
  return found;
}

/** Every Redis key under `prefix` whose name or content contains one of `needles`. */
export async function keysMentioning(
  redis: Redis,
  prefix: string,
  needles: readonly string[],
): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      const content = await contentOf(redis, key);
      for (const needle of needles) {
        if (key.includes(needle) || content.includes(needle)) found.push(`${key} (${needle})`);
      }
    }
  } while (cursor !== '0');
  return found;
}

async function contentOf(redis: Redis, key: string): Promise<string> {
  switch (await redis.type(key)) {
    case 'string':
      return (await redis.get(key)) ?? '';
    case 'zset':
      return (await redis.zrange(key, '0', '-1')).join(' ');
    case 'hash':
      return JSON.stringify(await redis.hgetall(key));
    case 'set':
      return (await redis.smembers(key)).join(' ');
    case 'list':
      return (await redis.lrange(key, '0', '-1')).join(' ');
    default:
      return '';
  }
}

/** Counters that differ from a recount of the rows they count, as readable lines. */
export async function counterDrift(db: Kysely<DB>): Promise<string[]> {
  const { rows } = await sql<{ what: string }>`
    select 'user ' || u.id || ' ' || u.post_count || '/' || u.follower_count || '/' ||
      u.following_count || '/' || u.friend_count as what
    from users u where
      u.post_count <> (select count(*) from posts p where p.author_id = u.id)
      or u.follower_count <> (select count(*) from follows f where f.followee_id = u.id)
      or u.following_count <> (select count(*) from follows f where f.follower_id = u.id)
      or u.friend_count <> (select count(*) from friendships f where f.user_id = u.id)
    union all
    select 'post ' || p.id || ' ' || p.like_count || '/' || p.comment_count from posts p where
      p.like_count <> (select count(*) from likes l where l.post_id = p.id)
      or p.comment_count <> (select count(*) from comments c where c.post_id = p.id)
    union all
    select 'notification ' || n.id || ' ' || n.actor_count from notifications n where
      n.actor_count <> (select count(*) from notification_actors a where a.notification_id = n.id)
      or not exists (select 1 from notification_actors a
        where a.notification_id = n.id and a.actor_id = n.actor_id)
    union all
    select 'friendship ' || f.user_id || ' ' || f.friend_id from friendships f where not exists (
      select 1 from friendships r where r.user_id = f.friend_id and r.friend_id = f.user_id)
  `.execute(db);
  return rows.map((r) => r.what);
}
