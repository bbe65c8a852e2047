import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Decided when the post is written: false for authors above the fan-out threshold, whose
  // posts are merged into followers' feeds at read time instead of pushed into timelines.
  await db.schema
    .alterTable('posts')
    .addColumn('fan_out', 'boolean', (c) => c.notNull().defaultTo(true))
    .execute();
  // Small (only big accounts' posts): serves the read-time merge by author, newest first.
  await sql`create index posts_pulled on posts (author_id, id desc) where not fan_out`.execute(db);

  // Fan-out skips followers inactive for longer than FEED_INACTIVE_DAYS.
  await db.schema
    .alterTable('users')
    .addColumn('last_active_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  // Fan-out walks an author's followers in id order, a batch at a time.
  await db.schema
    .createIndex('follows_followee_follower')
    .on('follows')
    .columns(['followee_id', 'follower_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('follows_followee_follower').execute();
  await db.schema.alterTable('users').dropColumn('last_active_at').execute();
  await db.schema.dropIndex('posts_pulled').execute();
  await db.schema.alterTable('posts').dropColumn('fan_out').execute();
}
