/**
 * Bulk seeding for benchmarks, straight in SQL: thousands of users, follows and posts in a few
 * statements instead of thousands of API calls. Profile counters are recomputed at the end so
 * the data looks exactly like what the API would have produced.
 */
import bcrypt from 'bcrypt';
import { sql, type Kysely } from 'kysely';
import type { DB } from '../src/infra/db/schema.ts';
import { newId } from '../src/ids.ts';

/** The password of every seeded user (all share one bcrypt hash). */
export const SEED_PASSWORD = 'bench-password-123';

let hash: Promise<string> | undefined;
/** One bcrypt hash (cost 10, as in production) for every seeded user. */
export const seedPasswordHash = (): Promise<string> => (hash ??= bcrypt.hash(SEED_PASSWORD, 10));

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/** Inserts users with these usernames (active now); returns their ids in the same order. */
export async function insertUsers(db: Kysely<DB>, usernames: readonly string[]): Promise<string[]> {
  const password_hash = await seedPasswordHash();
  const rows = usernames.map((username) => ({
    id: newId(),
    username,
    email: `${username}@bench.invalid`,
    password_hash,
    display_name: username,
    dob: '1990-01-01',
  }));
  for (const part of chunks(rows, 1_000)) await db.insertInto('users').values(part).execute();
  return rows.map((r) => r.id);
}

/** Inserts follows as [follower, followee] pairs. Run `recount` afterwards. */
export async function insertFollows(
  db: Kysely<DB>,
  pairs: readonly (readonly [string, string])[],
): Promise<void> {
  for (const part of chunks(pairs, 5_000)) {
    await db
      .insertInto('follows')
      .values(part.map(([follower_id, followee_id]) => ({ follower_id, followee_id })))
      .execute();
  }
}

/**
 * Inserts public posts, in the order given (ids are UUIDv7, so the last is the newest); returns
 * their ids. Run `recount` afterwards.
 */
export async function insertPosts(
  db: Kysely<DB>,
  posts: readonly { authorId: string; text: string }[],
): Promise<string[]> {
  const rows = posts.map((p) => ({
    id: newId(),
    author_id: p.authorId,
    text: p.text,
    visibility: 'public' as const,
    fan_out: true,
    edited_at: null,
  }));
  for (const part of chunks(rows, 1_000)) await db.insertInto('posts').values(part).execute();
  return rows.map((r) => r.id);
}

/** Makes every user's follower, following and post counters match the rows. */
export async function recount(db: Kysely<DB>): Promise<void> {
  await sql`
    update users u set
      follower_count = (select count(*) from follows f where f.followee_id = u.id),
      following_count = (select count(*) from follows f where f.follower_id = u.id),
      post_count = (select count(*) from posts p where p.author_id = u.id)`.execute(db);
  await sql`analyze`.execute(db);
}

/** kith seed's deterministic PRNG (mulberry32), so every run seeds the same graph. */
export { prng } from '../src/cli/seed-data.ts';

/** `k` distinct items of `items`, picked with `random`. */
export function sample<T>(items: readonly T[], k: number, random: () => number): T[] {
  const pool = [...items];
  for (let i = 0; i < k && i < pool.length; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  return pool.slice(0, k);
}
