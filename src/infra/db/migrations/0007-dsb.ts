import { sql, type Kysely } from 'kysely';

/**
 * DeathStarBench compatibility (DSB_COMPAT): what the DSB social network has and kith has no
 * place for. The users, follows and posts themselves are kith's own rows.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  // DSB addresses users by a numeric id its loader chooses; kith by a UUID.
  await db.schema
    .createTable('dsb_users')
    // Canonical decimal of a signed 64-bit integer, kept as text: it never goes through a float.
    .addColumn('dsb_id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) =>
      c.notNull().unique().references('users.id').onDelete('cascade'),
    )
    .execute();

  // A DSB post's fields beyond kith's: request id, type, media, and whom its text mentioned.
  await db.schema
    .createTable('dsb_posts')
    .addColumn('post_id', 'uuid', (c) => c.primaryKey().references('posts.id').onDelete('cascade'))
    .addColumn('creator_dsb_id', 'text', (c) => c.notNull())
    .addColumn('req_id', 'text', (c) => c.notNull())
    .addColumn('post_type', 'integer', (c) => c.notNull())
    // [{ media_id, media_type }], ids as strings (18 digits do not fit a double).
    .addColumn('media', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    // [{ user_id, username }] as presented in the timelines.
    .addColumn('mentions', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .execute();

  // DSB delivers a post to the home timelines of the users it mentions; read-time merge, newest
  // first by post id (the primary key serves `where user_id = ? order by post_id desc`).
  await db.schema
    .createTable('dsb_mentions')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('post_id', 'uuid', (c) => c.notNull().references('posts.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('dsb_mentions_pkey', ['user_id', 'post_id'])
    .execute();
  // Deleting a post finds its mention rows.
  await db.schema.createIndex('dsb_mentions_post').on('dsb_mentions').column('post_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['dsb_mentions', 'dsb_posts', 'dsb_users']) {
    await db.schema.dropTable(t).execute();
  }
}
