import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // True from the moment a fanned-out post is written until the feed consumer has pushed it to
  // every follower's timeline: until then, feed reads merge it from SQL, so a post acknowledged
  // before a read is in that read even if its fan-out lags or failed (Redis down). A constant
  // default: adding the column rewrites nothing.
  await db.schema
    .alterTable('posts')
    .addColumn('fanout_pending', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
  // Small (big accounts' posts and posts being fanned out): serves the read-time merge by author,
  // newest first. Replaces posts_pulled for that query; posts_pulled is left for the rest.
  await sql`create index posts_merged on posts (author_id, id desc)
    where not fan_out or fanout_pending`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('posts_merged').execute();
  await db.schema.alterTable('posts').dropColumn('fanout_pending').execute();
}
