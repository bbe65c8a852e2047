import { sql, type RawBuilder } from 'kysely';

/**
 * The rule for who may see a post, as SQL over a `posts` row aliased `p`:
 * the author always; nobody in a block with the author; anonymous viewers only `public`;
 * `followers` posts to followers (friends follow each other); `friends` posts to friends.
 */
export function visibleTo(viewerId: string | null): RawBuilder<boolean> {
  return allowedBy(viewerId, 'p.author_id', 'p.visibility');
}

/** The same rule for any row holding an author and a visibility (e.g. an old post version). */
export function allowedBy(
  viewerId: string | null,
  authorColumn: string,
  visibilityColumn: string,
): RawBuilder<boolean> {
  const author = sql.ref(authorColumn);
  const visibility = sql.ref(visibilityColumn);
  if (viewerId === null) return sql<boolean>`${visibility} = 'public'`;
  return sql<boolean>`(${author} = ${viewerId} or (
    not exists (
      select 1 from blocks b
      where (b.blocker_id = ${viewerId} and b.blocked_id = ${author})
         or (b.blocker_id = ${author} and b.blocked_id = ${viewerId}))
    and (${visibility} = 'public'
      or (${visibility} = 'followers' and exists (
        select 1 from follows f where f.follower_id = ${viewerId} and f.followee_id = ${author}))
      or (${visibility} = 'friends' and exists (
        select 1 from friendships fr where fr.user_id = ${viewerId} and fr.friend_id = ${author})))))`;
}

/** Rows whose `column` (a user id) is in a block with the viewer, either way: hidden from them. */
export function notBlockedWith(viewerId: string | null, column: string): RawBuilder<boolean> {
  if (viewerId === null) return sql<boolean>`true`;
  const user = sql.ref(column);
  return sql<boolean>`not exists (
    select 1 from blocks b
    where (b.blocker_id = ${viewerId} and b.blocked_id = ${user})
       or (b.blocker_id = ${user} and b.blocked_id = ${viewerId}))`;
}
