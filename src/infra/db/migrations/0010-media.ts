import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // No foreign key to posts: when a post is deleted its media rows must outlive it until the
  // media consumer has removed their files (post.deleted), then it deletes the rows.
  await db.schema
    .createTable('media')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('owner_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('post_id', 'uuid')
    .addColumn('position', 'smallint', (c) => c.notNull().defaultTo(0))
    .addColumn('kind', 'text', (c) => c.notNull().defaultTo('image'))
    .addColumn('original_key', 'text', (c) => c.notNull())
    .addColumn('preview_key', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('preview_url', 'text', (c) => c.notNull())
    .addColumn('content_type', 'text', (c) => c.notNull())
    .addColumn('width', 'integer', (c) => c.notNull())
    .addColumn('height', 'integer', (c) => c.notNull())
    .addColumn('preview_width', 'integer', (c) => c.notNull())
    .addColumn('preview_height', 'integer', (c) => c.notNull())
    .addColumn('blurhash', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('focus_x', 'real', (c) => c.notNull().defaultTo(0))
    .addColumn('focus_y', 'real', (c) => c.notNull().defaultTo(0))
    // Set when the media is being removed (its files go first, then the row).
    .addColumn('deleted_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index media_post on media (post_id, position) where post_id is not null`.execute(
    db,
  );
  // Housekeeping: uploads never attached, oldest first.
  await sql`create index media_unattached on media (created_at) where post_id is null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('media').execute();
}
