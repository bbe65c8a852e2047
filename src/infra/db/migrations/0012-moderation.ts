import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Constant defaults and nullable columns: adding them rewrites no row of users.
  await db.schema
    .alterTable('users')
    .addColumn('role', 'text', (c) =>
      c
        .notNull()
        .defaultTo('user')
        .check(sql`role in ('user', 'moderator', 'admin')`),
    )
    .addColumn('suspended_at', 'timestamptz')
    .addColumn('limited_at', 'timestamptz')
    // Access tokens issued up to this moment are refused (a suspension ends every session for
    // good: lifting it does not bring back the tokens it ended).
    .addColumn('sessions_revoked_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('reports')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('reporter_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('account_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('category', 'text', (c) =>
      c.notNull().check(sql`category in ('spam', 'abuse', 'illegal', 'other')`),
    )
    .addColumn('comment', 'text', (c) => c.notNull().defaultTo(''))
    // Ids of the account's posts and comments named by the reporter (JSON arrays of strings):
    // kept even after a deletion removes the rows, so the report still says what it was about.
    .addColumn('post_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('comment_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('open')
        .check(sql`status in ('open', 'resolved')`),
    )
    .addColumn('assignee_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('action', 'text')
    .addColumn('resolution', 'text')
    .addColumn('resolved_by', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('resolved_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // The queue (by status, newest first) and a reporter's own list.
  await db.schema.createIndex('reports_queue').on('reports').columns(['status', 'id']).execute();
  await db.schema
    .createIndex('reports_reporter')
    .on('reports')
    .columns(['reporter_id', 'id'])
    .execute();
  await db.schema.createIndex('reports_account').on('reports').column('account_id').execute();

  await db.schema
    .createTable('report_notes')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('report_id', 'uuid', (c) => c.notNull().references('reports.id').onDelete('cascade'))
    .addColumn('author_id', 'uuid', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('report_notes_report')
    .on('report_notes')
    .columns(['report_id', 'id'])
    .execute();

  // Who did what to whom. No foreign keys on purpose: an entry outlives the accounts it names.
  await db.schema
    .createTable('moderation_audit')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('moderator_id', 'uuid')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_user_id', 'uuid')
    .addColumn('report_id', 'uuid')
    .addColumn('reason', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('details', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('moderation_audit').execute();
  await db.schema.dropTable('report_notes').execute();
  await db.schema.dropTable('reports').execute();
  await db.schema
    .alterTable('users')
    .dropColumn('role')
    .dropColumn('suspended_at')
    .dropColumn('limited_at')
    .dropColumn('sessions_revoked_at')
    .execute();
}
