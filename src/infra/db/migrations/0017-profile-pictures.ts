import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Avatars and headers are rows of `media` too, so every file a user owns is found by
  // `select original_key, preview_key from media where owner_id = $1` (attachments, avatars,
  // headers, and those whose removal is still pending).
  await db.schema
    .alterTable('media')
    .addColumn('purpose', 'text', (c) => c.notNull().defaultTo('attachment'))
    .execute();
  await sql`alter table media add constraint media_purpose
    check (purpose in ('attachment', 'avatar', 'header'))`.execute(db);
  // At most one current avatar and one current header per user.
  await sql`create unique index media_profile_picture on media (owner_id, purpose)
    where purpose <> 'attachment' and deleted_at is null`.execute(db);
  // The URLs shown on the profile (null: kith's default picture), kept with the user row so
  // every presentation of an account has them without a join.
  await db.schema
    .alterTable('users')
    .addColumn('avatar_url', 'text')
    .addColumn('header_url', 'text')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('avatar_url').dropColumn('header_url').execute();
  await sql`drop index media_profile_picture`.execute(db);
  await db.schema.alterTable('media').dropColumn('purpose').execute();
}
