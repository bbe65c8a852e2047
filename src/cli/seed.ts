/**
 * `kith seed`: realistic demo data written straight through the database layer, in one
 * transaction, a few statements per table (arrays unnested server-side), so 10,000 users take
 * seconds instead of the hours the API would need at its rate limits.
 *
 * The rows are what the API would have produced, counters included. What the API does *after*
 * a write is skipped: no outbox events, so no notifications, mails or fan-out; home timelines
 * are built from SQL on each user's first feed read.
 */
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcrypt';
import { sql, type Kysely } from 'kysely';
import { v7 as uuidv7 } from 'uuid';
import type { DB } from '../infra/db/schema.ts';
import { generate, type SeedParams } from './seed-data.ts';

export interface SeedOptions extends Omit<SeedParams, 'now'> {
  /** The password of every seeded user (one bcrypt hash is shared). */
  readonly password: string;
  readonly bcryptCost: number;
  /** FEED_FANOUT_MAX_FOLLOWERS: posts of bigger accounts get `fan_out = false`, as the API does. */
  readonly fanoutMaxFollowers: number;
  readonly now?: number;
  /** Rows written so far out of the total, after each statement. */
  readonly onProgress?: (done: number, total: number, table: string) => void;
}

export interface SeedSummary {
  readonly users: number;
  readonly follows: number;
  /** Friend pairs; each is stored in both directions. */
  readonly friendships: number;
  readonly posts: number;
  readonly likes: number;
  readonly comments: number;
  /** The most followed accounts, most followed first. */
  readonly top: readonly { username: string; followers: number }[];
  readonly firstUsername: string | undefined;
  /** Rows written, as counted by onProgress (friendships twice). */
  readonly rows: number;
  readonly ms: { readonly generate: number; readonly write: number; readonly total: number };
}

/** Seeding would collide with rows already there. */
export class SeedConflictError extends Error {}

const CHUNK = 10_000;
const iso = (ms: number) => new Date(ms).toISOString();
/** A UUIDv7 carrying `ms`, so ids sort like the backdated `created_at` they go with. */
const idAt = (ms: number) => uuidv7({ msecs: ms });

function* chunks(count: number): Generator<[number, number]> {
  for (let start = 0; start < count; start += CHUNK) yield [start, Math.min(count, start + CHUNK)];
}

async function isSuperuser(db: Kysely<DB>): Promise<boolean> {
  const { rows } = await sql<{
    on: boolean;
  }>`select current_setting('is_superuser') = 'on' as on`.execute(db);
  return rows[0]?.on === true;
}

/** Writes a generated graph into `db`. Fails with SeedConflictError if a username is taken. */
export async function seedDatabase(db: Kysely<DB>, opts: SeedOptions): Promise<SeedSummary> {
  const t0 = performance.now();
  const data = generate({ ...opts, now: opts.now ?? Date.now() });
  const { users, posts, counts } = data;
  const usernames = users.map((u) => u.username);
  const emails = usernames.map((u) => `${u}@seed.kith.invalid`);
  const taken = await sql<{ username: string }>`
    select username from users
    where username = any(${usernames}::text[]) or lower(email) = any(${emails}::text[])
    limit 3`.execute(db);
  if (taken.rows.length > 0) {
    throw new SeedConflictError(
      `users already exist (${taken.rows.map((r) => r.username).join(', ')}, …): seed into a fresh database or pick another --prefix`,
    );
  }
  const hash = await bcrypt.hash(opts.password, opts.bcryptCost);
  const userIds = users.map((u) => idAt(u.createdAt));
  const postIds = posts.map((p) => idAt(p.createdAt));
  const tGenerated = performance.now();

  const total =
    users.length +
    data.follows.length / 3 +
    (data.friendships.length / 3) * 2 +
    posts.length +
    data.likes.length / 3 +
    data.comments.length;
  let done = 0;
  const progress = (rows: number, table: string) => {
    done += rows;
    opts.onProgress?.(done, total, table);
  };
  /** Columns of flattened triples (a, b, time) → [ids of a, ids of b, times]. */
  const triples = (
    flat: readonly number[],
    start: number,
    end: number,
    a: string[],
    b: string[],
  ) => {
    const cols: [string[], string[], string[]] = [[], [], []];
    for (let i = start; i < end; i++) {
      cols[0].push(a[flat[i * 3]!]!);
      cols[1].push(b[flat[i * 3 + 1]!]!);
      cols[2].push(iso(flat[i * 3 + 2]!));
    }
    return cols;
  };

  await db.transaction().execute(async (trx) => {
    // Every reference points at a row written earlier in this same transaction, so the
    // per-row foreign-key triggers only cost time (about half of it): skip them where allowed,
    // as pg_restore --disable-triggers does. Other triggers: kith has none.
    if (await isSuperuser(trx))
      await sql`set local session_replication_role = replica`.execute(trx);
    for (const [s, e] of chunks(users.length)) {
      const part = users.slice(s, e);
      const range = (col: Int32Array) => Array.from(col.subarray(s, e));
      await sql`
        insert into users (id, username, email, password_hash, display_name, bio, dob,
          created_at, updated_at, email_verified_at, last_active_at,
          post_count, follower_count, following_count, friend_count)
        select id, username, email, ${hash}, display_name, bio, dob,
          created_at, created_at, created_at, now(), pc, fr, fg, fc
        from unnest(${userIds.slice(s, e)}::uuid[], ${usernames.slice(s, e)}::text[],
          ${emails.slice(s, e)}::text[], ${part.map((u) => u.displayName)}::text[],
          ${part.map((u) => u.bio)}::text[], ${part.map((u) => u.dob)}::date[],
          ${part.map((u) => iso(u.createdAt))}::timestamptz[], ${range(counts.posts)}::int[],
          ${range(counts.followers)}::int[], ${range(counts.following)}::int[],
          ${range(counts.friends)}::int[])
          as t(id, username, email, display_name, bio, dob, created_at, pc, fr, fg, fc)`.execute(
        trx,
      );
      progress(e - s, 'users');
    }
    for (const [s, e] of chunks(data.follows.length / 3)) {
      const [a, b, at] = triples(data.follows, s, e, userIds, userIds);
      await sql`
        insert into follows (follower_id, followee_id, created_at)
        select * from unnest(${a}::uuid[], ${b}::uuid[], ${at}::timestamptz[])`.execute(trx);
      progress(e - s, 'follows');
    }
    for (const [s, e] of chunks(data.friendships.length / 3)) {
      const [a, b, at] = triples(data.friendships, s, e, userIds, userIds);
      await sql`
        insert into friendships (user_id, friend_id, created_at)
        select * from unnest(${[...a, ...b]}::uuid[], ${[...b, ...a]}::uuid[],
          ${[...at, ...at]}::timestamptz[])`.execute(trx);
      progress((e - s) * 2, 'friendships');
    }
    for (const [s, e] of chunks(posts.length)) {
      const part = posts.slice(s, e);
      await sql`
        insert into posts (id, author_id, text, visibility, like_count, comment_count,
          created_at, fan_out)
        select * from unnest(${postIds.slice(s, e)}::uuid[],
          ${part.map((p) => userIds[p.author]!)}::uuid[], ${part.map((p) => p.text)}::text[],
          ${part.map((p) => p.visibility)}::text[], ${Array.from(counts.likes.subarray(s, e))}::int[],
          ${Array.from(counts.comments.subarray(s, e))}::int[],
          ${part.map((p) => iso(p.createdAt))}::timestamptz[],
          ${part.map((p) => counts.followers[p.author]! <= opts.fanoutMaxFollowers)}::boolean[])`.execute(
        trx,
      );
      progress(e - s, 'posts');
    }
    for (const [s, e] of chunks(data.likes.length / 3)) {
      const [post, user, at] = triples(data.likes, s, e, postIds, userIds);
      await sql`
        insert into likes (post_id, user_id, created_at)
        select * from unnest(${post}::uuid[], ${user}::uuid[], ${at}::timestamptz[])`.execute(trx);
      progress(e - s, 'likes');
    }
    for (const [s, e] of chunks(data.comments.length)) {
      const part = data.comments.slice(s, e);
      await sql`
        insert into comments (id, post_id, author_id, text, created_at)
        select * from unnest(${part.map((c) => idAt(c.createdAt))}::uuid[],
          ${part.map((c) => postIds[c.post]!)}::uuid[], ${part.map((c) => userIds[c.author]!)}::uuid[],
          ${part.map((c) => c.text)}::text[], ${part.map((c) => iso(c.createdAt))}::timestamptz[])`.execute(
        trx,
      );
      progress(e - s, 'comments');
    }
  });
  // Fresh statistics, so the first queries plan for the new row counts.
  await sql`analyze`.execute(db);
  const end = performance.now();

  const top = [...counts.followers.keys()]
    .sort((a, b) => counts.followers[b]! - counts.followers[a]!)
    .slice(0, 5)
    .map((i) => ({ username: usernames[i]!, followers: counts.followers[i]! }));
  return {
    users: users.length,
    follows: data.follows.length / 3,
    friendships: data.friendships.length / 3,
    posts: posts.length,
    likes: data.likes.length / 3,
    comments: data.comments.length,
    top,
    firstUsername: usernames[0],
    rows: total,
    ms: { generate: tGenerated - t0, write: end - tGenerated, total: end - t0 },
  };
}
