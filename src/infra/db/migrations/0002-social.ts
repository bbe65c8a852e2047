import { sql, type Kysely } from 'kysely';

// Edge timestamps page lists by (created_at, id); JavaScript dates carry milliseconds, so
// they are stored at millisecond precision for a cursor to name a row exactly.
const MS_TIMESTAMP = sql`timestamptz(3)`;

export async function up(db: Kysely<unknown>): Promise<void> {
  // Profile counters, kept exact by updating them in the same transaction as the change.
  await db.schema
    .alterTable('users')
    .addColumn('post_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('follower_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('following_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('friend_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('follows')
    .addColumn('follower_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('followee_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', MS_TIMESTAMP, (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('follows_pkey', ['follower_id', 'followee_id'])
    .addCheckConstraint('follows_not_self', sql`follower_id <> followee_id`)
    .execute();
  await db.schema
    .createIndex('follows_followee')
    .on('follows')
    .columns(['followee_id', 'created_at'])
    .execute();

  // A friendship is stored once per direction so "friends of X" is a plain index scan.
  await db.schema
    .createTable('friendships')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('friend_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', MS_TIMESTAMP, (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('friendships_pkey', ['user_id', 'friend_id'])
    .addCheckConstraint('friendships_not_self', sql`user_id <> friend_id`)
    .execute();
  await db.schema.createIndex('friendships_friend').on('friendships').column('friend_id').execute();

  await db.schema
    .createTable('friend_requests')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('sender_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('recipient_id', 'uuid', (c) =>
      c.notNull().references('users.id').onDelete('cascade'),
    )
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'accepted', 'declined', 'cancelled')`),
    )
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('responded_at', 'timestamptz')
    .addCheckConstraint('friend_requests_not_self', sql`sender_id <> recipient_id`)
    .execute();
  // At most one pending request per ordered pair; the service also refuses a reverse duplicate.
  await sql`create unique index friend_requests_pending on friend_requests (sender_id, recipient_id) where status = 'pending'`.execute(
    db,
  );
  await sql`create index friend_requests_incoming on friend_requests (recipient_id, id) where status = 'pending'`.execute(
    db,
  );
  await sql`create index friend_requests_outgoing on friend_requests (sender_id, id) where status = 'pending'`.execute(
    db,
  );

  for (const [table, actor, target] of [
    ['blocks', 'blocker_id', 'blocked_id'],
    ['mutes', 'muter_id', 'muted_id'],
  ] as const) {
    await db.schema
      .createTable(table)
      .addColumn(actor, 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn(target, 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('created_at', MS_TIMESTAMP, (c) => c.notNull().defaultTo(sql`now()`))
      .addPrimaryKeyConstraint(`${table}_pkey`, [actor, target])
      .addCheckConstraint(`${table}_not_self`, sql.raw(`${actor} <> ${target}`))
      .execute();
    await db.schema.createIndex(`${table}_target`).on(table).column(target).execute();
  }

  await db.schema
    .createTable('posts')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('author_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('visibility', 'text', (c) =>
      c.notNull().check(sql`visibility in ('public', 'followers', 'friends')`),
    )
    .addColumn('like_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('comment_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('edited_at', 'timestamptz')
    .execute();
  // Ids are UUIDv7 (time-ordered): (author_id, id desc) serves the profile feed by keyset.
  await sql`create index posts_author on posts (author_id, id desc)`.execute(db);

  await db.schema
    .createTable('post_versions')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('post_id', 'uuid', (c) => c.notNull().references('posts.id').onDelete('cascade'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('visibility', 'text', (c) => c.notNull())
    .addColumn('written_at', 'timestamptz', (c) => c.notNull())
    .addColumn('replaced_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('post_versions_post')
    .on('post_versions')
    .columns(['post_id', 'id'])
    .execute();

  await db.schema
    .createTable('likes')
    .addColumn('post_id', 'uuid', (c) => c.notNull().references('posts.id').onDelete('cascade'))
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', MS_TIMESTAMP, (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('likes_pkey', ['post_id', 'user_id'])
    .execute();
  await db.schema
    .createIndex('likes_post_time')
    .on('likes')
    .columns(['post_id', 'created_at'])
    .execute();
  await db.schema.createIndex('likes_user').on('likes').column('user_id').execute();

  await db.schema
    .createTable('comments')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('post_id', 'uuid', (c) => c.notNull().references('posts.id').onDelete('cascade'))
    .addColumn('author_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('edited_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('comments_post').on('comments').columns(['post_id', 'id']).execute();

  // Idempotency-Key: the first request's outcome (the created resource) per user and key.
  await db.schema
    .createTable('idempotency_keys')
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('resource_id', 'uuid')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('idempotency_keys_pkey', ['user_id', 'key'])
    .execute();
  await db.schema
    .createIndex('idempotency_keys_created')
    .on('idempotency_keys')
    .column('created_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of [
    'idempotency_keys',
    'comments',
    'likes',
    'post_versions',
    'posts',
    'mutes',
    'blocks',
    'friend_requests',
    'friendships',
    'follows',
  ]) {
    await db.schema.dropTable(t).execute();
  }
  await db.schema
    .alterTable('users')
    .dropColumn('post_count')
    .dropColumn('follower_count')
    .dropColumn('following_count')
    .dropColumn('friend_count')
    .execute();
}
