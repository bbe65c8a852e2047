import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create extension if not exists pg_trgm`.execute(db);
  await sql`create extension if not exists unaccent`.execute(db);

  // Folds case and accents for matching. unaccent() is only STABLE (its dictionary could be
  // changed), so an index expression needs this IMMUTABLE wrapper naming the dictionary.
  await sql`create function kith_fold(text) returns text
    language sql immutable parallel safe strict
    as $$ select lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$`.execute(db);

  // Posts are written in any language, and the author does not say which: a language's stemmer
  // (english) would mangle every other one. `simple` keeps each word as written, lower-cased,
  // and unaccent folds accents, so "cafe" finds "Café" in every language; no stop words, so
  // nothing a user typed is silently dropped.
  await sql`create text search configuration kith_search (copy = simple)`.execute(db);
  await sql`alter text search configuration kith_search
    alter mapping for hword, hword_part, word with unaccent, simple`.execute(db);

  // Stored, so ranking reads the vector instead of parsing each matching post again.
  await sql`alter table posts add column search_vector tsvector
    generated always as (to_tsvector('kith_search'::regconfig, text)) stored`.execute(db);
  await sql`create index posts_search on posts using gin (search_vector)`.execute(db);
  // The public timeline: public posts, newest first.
  await sql`create index posts_public on posts (id desc) where visibility = 'public'`.execute(db);

  // People search, tolerant of typos (trigrams) and accents (kith_fold).
  await sql`create index users_username_trgm on users using gin (username gin_trgm_ops)`.execute(
    db,
  );
  await sql`create index users_display_name_trgm on users
    using gin (kith_fold(display_name) gin_trgm_ops)`.execute(db);

  // Every tag ever used; "C" collation so a prefix search is an index range scan.
  await sql`create table tags (
    name text collate "C" primary key,
    created_at timestamptz not null default now())`.execute(db);
  // Which posts carry which tag: (tag, post_id) serves the tag timeline newest first.
  await sql`create table post_tags (
    tag text collate "C" not null,
    post_id uuid not null references posts (id) on delete cascade,
    author_id uuid not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (tag, post_id))`.execute(db);
  await sql`create index post_tags_post on post_tags (post_id)`.execute(db);
  // Trends read the last 24 hours of uses.
  await sql`create index post_tags_recent on post_tags (created_at)`.execute(db);

  await sql`create table tag_follows (
    user_id uuid not null references users (id) on delete cascade,
    tag text collate "C" not null,
    created_at timestamptz(3) not null default now(),
    primary key (user_id, tag))`.execute(db);
  // A tagged post reaches the timelines of the tag's followers.
  await sql`create index tag_follows_tag on tag_follows (tag, user_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop table tag_follows`.execute(db);
  await sql`drop table post_tags`.execute(db);
  await sql`drop table tags`.execute(db);
  await sql`drop index users_display_name_trgm`.execute(db);
  await sql`drop index users_username_trgm`.execute(db);
  await sql`drop index posts_public`.execute(db);
  await sql`alter table posts drop column search_vector`.execute(db);
  await sql`drop text search configuration kith_search`.execute(db);
  await sql`drop function kith_fold(text)`.execute(db);
}
