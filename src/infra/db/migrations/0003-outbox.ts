import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Transactional outbox: events are written with the change they describe, then relayed.
  await db.schema
    .createTable('outbox')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('data', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    // A relay claims a batch until this time; another relay takes over after it passes.
    .addColumn('claimed_until', 'timestamptz')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('last_error', 'text')
    .execute();
  await sql`create index outbox_pending on outbox (id) where published_at is null`.execute(db);
  await sql`create index outbox_published on outbox (published_at) where published_at is not null`.execute(
    db,
  );

  // Consumers record the events they have applied, in the same transaction as the effect.
  await db.schema
    .createTable('processed_events')
    .addColumn('consumer', 'text', (c) => c.notNull())
    .addColumn('event_id', 'uuid', (c) => c.notNull())
    .addColumn('processed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('processed_events_pkey', ['consumer', 'event_id'])
    .execute();
  await db.schema
    .createIndex('processed_events_time')
    .on('processed_events')
    .column('processed_at')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('processed_events').execute();
  await db.schema.dropTable('outbox').execute();
}
