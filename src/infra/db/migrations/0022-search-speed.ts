import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Every post found, listed or counted asks "is its author suspended, or limited?" (see
  // visibility.repository.ts). Without an index Postgres answered by reading the whole users
  // table once per query (a hash or materialized anti-join over every user): milliseconds that
  // grow with the users. These partial indexes hold only the few suspended or limited users,
  // so the answer is a probe of an almost empty index.
  await sql`create index users_suspended on users (id) where suspended_at is not null`.execute(db);
  await sql`create index users_limited on users (id)
    where limited_at is not null or suspended_at is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index users_limited`.execute(db);
  await sql`drop index users_suspended`.execute(db);
}
