import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A user's likes, newest post first: what the feed's cache of "posts I liked" is built from.
  // It serves every query the old (user_id) index did.
  await sql`create index likes_user_post on likes (user_id, post_id desc)`.execute(db);
  await sql`drop index likes_user`.execute(db);
  // Posts whose fan-out has not run yet (every new post, for a moment): rebuilds the cached
  // list that feed reads merge from, after a cache loss, without scanning posts_merged.
  await sql`create index posts_pending on posts (id) where fanout_pending`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index posts_pending`.execute(db);
  await sql`create index likes_user on likes (user_id)`.execute(db);
  await sql`drop index likes_user_post`.execute(db);
}
