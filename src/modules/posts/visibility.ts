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
  const visibility = sql.ref(visibilityColumn);
  if (viewerId === null) return sql<boolean>`${visibility} = 'public'`;
  return mayView(sql`${viewerId}`, sql.ref(authorColumn), visibility);
}

/**
 * The same rule with every operand given as SQL, so it can be asked of many viewers at once (a
 * column of user ids) about a post that may no longer exist (its author and visibility as
 * values): who a stream event about a post may reach. Viewers here are signed in.
 */
export function mayView(
  viewer: RawBuilder<unknown>,
  author: RawBuilder<unknown>,
  visibility: RawBuilder<unknown>,
): RawBuilder<boolean> {
  return sql<boolean>`(${author} = ${viewer} or (
    not exists (
      select 1 from blocks b
      where (b.blocker_id = ${viewer} and b.blocked_id = ${author})
         or (b.blocker_id = ${author} and b.blocked_id = ${viewer}))
    and (${visibility} = 'public'
      or (${visibility} = 'followers' and exists (
        select 1 from follows f where f.follower_id = ${viewer} and f.followee_id = ${author}))
      or (${visibility} = 'friends' and exists (
        select 1 from friendships fr where fr.user_id = ${viewer} and fr.friend_id = ${author})))))`;
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
