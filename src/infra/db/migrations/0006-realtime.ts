import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    // The last sequence number handed out in the user's stream (events are numbered per user).
    .addColumn('stream_seq', 'bigint', (c) => c.notNull().defaultTo(0))
    // Who may start a conversation with the user or message them.
    .addColumn('dm_policy', 'text', (c) =>
      c
        .notNull()
        .defaultTo('everyone')
        .check(sql`dm_policy in ('everyone', 'followers', 'friends', 'nobody')`),
    )
    .execute();

  // The durable per-user event log behind the real-time streams: a reconnecting client gets
  // every event after the last `seq` it saw, as long as it is younger than the retention.
  await db.schema
    .createTable('stream_events')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('stream_events_pkey', ['user_id', 'seq'])
    .execute();
  await db.schema
    .createIndex('stream_events_created')
    .on('stream_events')
    .column('created_at')
    .execute();

  await db.schema
    .createTable('notifications')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    // Likes of one post share one notification (group_key = 'like:<post id>').
    .addColumn('group_key', 'text')
    .addColumn('actor_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('actor_count', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('post_id', 'uuid', (c) => c.references('posts.id').onDelete('cascade'))
    .addColumn('comment_id', 'uuid', (c) => c.references('comments.id').onDelete('cascade'))
    .addColumn('request_id', 'uuid')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('read_at', 'timestamptz')
    .execute();
  await sql`create unique index notifications_group on notifications (user_id, group_key) where group_key is not null`.execute(
    db,
  );
  await sql`create index notifications_user on notifications (user_id, updated_at desc, id desc)`.execute(
    db,
  );
  await sql`create index notifications_unread on notifications (user_id) where read_at is null`.execute(
    db,
  );
  await db.schema
    .createTable('notification_actors')
    .addColumn('notification_id', 'uuid', (c) =>
      c.notNull().references('notifications.id').onDelete('cascade'),
    )
    .addColumn('actor_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', sql`timestamptz(3)`, (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('notification_actors_pkey', ['notification_id', 'actor_id'])
    .execute();

  // One-to-one conversations: one row per pair (user_a < user_b), a member row per side.
  await db.schema
    .createTable('conversations')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_a', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('user_b', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_message_id', 'uuid')
    .addUniqueConstraint('conversations_pair', ['user_a', 'user_b'])
    .addCheckConstraint('conversations_ordered', sql`user_a < user_b`)
    .execute();
  await db.schema
    .createTable('conversation_members')
    .addColumn('conversation_id', 'uuid', (c) =>
      c.notNull().references('conversations.id').onDelete('cascade'),
    )
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('last_read_id', 'uuid')
    .addPrimaryKeyConstraint('conversation_members_pkey', ['conversation_id', 'user_id'])
    .execute();
  await db.schema
    .createIndex('conversation_members_user')
    .on('conversation_members')
    .column('user_id')
    .execute();
  await db.schema
    .createTable('messages')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('conversation_id', 'uuid', (c) =>
      c.notNull().references('conversations.id').onDelete('cascade'),
    )
    .addColumn('sender_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('messages_conversation')
    .on('messages')
    .columns(['conversation_id', 'id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'messages',
    'conversation_members',
    'conversations',
    'notification_actors',
    'notifications',
    'stream_events',
  ]) {
    await db.schema.dropTable(t).execute();
  }
  await db.schema.alterTable('users').dropColumn('dm_policy').dropColumn('stream_seq').execute();
}
