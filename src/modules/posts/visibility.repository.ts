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
  if (viewerId === null)
    return sql<boolean>`(${visibility} = 'public' and ${notSuspended(sql.ref(authorColumn))})`;
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
    ${notSuspended(author)} and not exists (
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
  const user = sql.ref(column);
  if (viewerId === null) return notSuspended(user);
  return sql<boolean>`${notSuspended(user)} and not exists (
    select 1 from blocks b
    where (b.blocker_id = ${viewerId} and b.blocked_id = ${user})
       or (b.blocker_id = ${user} and b.blocked_id = ${viewerId}))`;
}

/**
 * False for a suspended user: everything they made is hidden from everyone else, as if they did
 * not exist (a primary-key probe per row; suspension is rare, so the answer is nearly always yes).
 */
export function notSuspended(user: RawBuilder<unknown>): RawBuilder<boolean> {
  return sql<boolean>`not exists (
    select 1 from users su where su.id = ${user} and su.suspended_at is not null)`;
}

/**
 * Whether the posts of the user in `authorColumn` may reach people beyond their followers
 * (public timelines, search, trends): not for a limited or suspended account. The one rule for
 * every such surface (see docs/MODERATION.md).
 */
export function reachesPublic(authorColumn: string): RawBuilder<boolean> {
  return sql<boolean>`not exists (select 1 from users ru where ru.id = ${sql.ref(authorColumn)}
    and (ru.limited_at is not null or ru.suspended_at is not null))`;
}

/**
 * The ids of the users in a block with the viewer, either way, as a subquery: a user's own
 * blocks, a handful of rows read through the two block indexes.
 */
export function blockedWith(viewerId: string): RawBuilder<unknown> {
  return sql`(select b.blocked_id from blocks b where b.blocker_id = ${viewerId}
    union all select b.blocker_id from blocks b where b.blocked_id = ${viewerId})`;
}

/** Where each post counter's entries live, and whose they are. */
const COUNTED = {
  like_count: ['likes', 'user_id'],
  comment_count: ['comments', 'author_id'],
} as const;

/**
 * A counter of the post aliased `p` as the viewer may list it: the stored counter minus the
 * entries (likes, comments) of users in a block with the viewer, which the lists leave out.
 * Only those users' entries are counted, so the cost follows the viewer's blocks, not the post's
 * popularity. `blocked`: the viewer's block set when the caller already holds it (the cached
 * relations); when it is empty, the stored counter is used as it is, with no subquery.
 */
export function seenCount(
  counter: keyof typeof COUNTED,
  viewerId: string | null,
  blocked?: readonly string[],
): RawBuilder<number> {
  const stored = sql.ref(`p.${counter}`);
  if (viewerId === null || blocked?.length === 0) return sql<number>`${stored}`;
  const [table, user] = COUNTED[counter];
  const hidden =
    blocked === undefined ? sql`in ${blockedWith(viewerId)}` : sql`= any(${[...blocked]}::uuid[])`;
  return sql<number>`(${stored} - (select count(*)::int from ${sql.table(table)} h
    where h.post_id = p.id and h.${sql.ref(user)} ${hidden}))`;
}
