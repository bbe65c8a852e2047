import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Mastodon apps keep the reading position of each timeline on the server (markers), so it
  // follows the user from one app to another. One row per user and timeline; `version` counts
  // the writes (clients use it to notice a newer position).
  await db.schema
    .createTable('mastodon_markers')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('timeline', 'text', (c) => c.notNull())
    .addColumn('last_read_id', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('mastodon_markers_pkey', ['user_id', 'timeline'])
    .addCheckConstraint('mastodon_markers_timeline', sql`timeline in ('home', 'notifications')`)
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('mastodon_markers').execute();
}
