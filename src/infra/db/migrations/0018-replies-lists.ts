import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A user's comments, newest first: their replies among their statuses (Mastodon's account
  // statuses), read by keyset like their posts (posts_author).
  await sql`create index comments_author on comments (author_id, id desc)`.execute(db);
  // A user's likes, newest like first: their favourites list, paged by (created_at, post_id).
  await sql`create index likes_user_time on likes (user_id, created_at desc, post_id desc)`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index likes_user_time`.execute(db);
  await sql`drop index comments_author`.execute(db);
}
