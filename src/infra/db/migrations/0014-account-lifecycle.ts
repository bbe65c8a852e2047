import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Set while a deletion waits out its grace period: the account is hidden and signed out.
  await db.schema.alterTable('users').addColumn('deactivated_at', 'timestamptz').execute();

  // One row per account being deleted; `phase` is the erasure's progress, saved in the same
  // transaction as each batch, so a worker that dies resumes where the last batch committed.
  // No foreign key: the row outlives nothing but must not cascade away mid-erasure either.
  await db.schema
    .createTable('account_deletions')
    .addColumn('user_id', 'uuid', (c) => c.primaryKey())
    .addColumn('requested_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('erase_after', 'timestamptz', (c) => c.notNull())
    .addColumn('phase', 'text', (c) => c.notNull().defaultTo('waiting'))
    .addColumn('batches', 'integer', (c) => c.notNull().defaultTo(0))
    // A worker claims a deletion until this time; another takes over after it passes.
    .addColumn('claimed_until', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('account_deletions_due')
    .on('account_deletions')
    .column('erase_after')
    .execute();

  // Usernames of erased accounts: nobody may register them again. Only the name is kept.
  await db.schema
    .createTable('reserved_usernames')
    .addColumn('username', 'text', (c) => c.primaryKey())
    .addColumn('reserved_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // Enforced by the database, answering like the username index does, so every way of creating
  // or renaming an account (API, seeding, scripts) is covered.
  await sql`create function refuse_reserved_username() returns trigger language plpgsql as $$
    begin
      if exists (select 1 from reserved_usernames r where r.username = new.username) then
        raise exception 'duplicate key value violates unique constraint "users_username_key"'
          using errcode = 'unique_violation', constraint = 'users_username_key';
      end if;
      return new;
    end $$`.execute(db);
  await sql`create trigger users_reserved_username before insert or update of username on users
    for each row execute function refuse_reserved_username()`.execute(db);

  // Data exports: `token_hash` is the SHA-256 of the download link's secret.
  await db.schema
    .createTable('data_exports')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('user_id', 'uuid', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'ready', 'failed', 'expired')`),
    )
    .addColumn('token_hash', 'text')
    .addColumn('file', 'text')
    .addColumn('bytes', 'bigint')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('ready_at', 'timestamptz')
    .addColumn('expires_at', 'timestamptz')
    .execute();
  // At most one export in progress per user.
  await sql`create unique index data_exports_pending on data_exports (user_id) where status = 'pending'`.execute(
    db,
  );
  await sql`create index data_exports_user on data_exports (user_id, created_at desc)`.execute(db);
  await sql`create unique index data_exports_token on data_exports (token_hash) where token_hash is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('data_exports').execute();
  await sql`drop trigger users_reserved_username on users`.execute(db);
  await sql`drop function refuse_reserved_username()`.execute(db);
  await db.schema.dropTable('reserved_usernames').execute();
  await db.schema.dropTable('account_deletions').execute();
  await db.schema.alterTable('users').dropColumn('deactivated_at').execute();
}
