import { sql, type RawBuilder } from 'kysely';
import { notBlockedWith, reachesPublic, visibleTo } from '../posts/visibility.repository.ts';

/**
 * The one rule for posts found rather than followed (search, the public and tag timelines,
 * trends), as SQL over a `posts` row aliased `p`: the viewer may see it (visibility and blocks
 * either way, see `visibleTo`), has not muted its author, and the author's posts reach beyond
 * their followers (a moderator's limit keeps a limited author's posts to their followers and
 * themselves: see `reachesViewer`). Anything that should hide a post from discovery is
 * added here and reaches every one of them.
 */
export function discoverableTo(viewerId: string | null): RawBuilder<boolean> {
  return sql<boolean>`(${visibleTo(viewerId)} and ${notMutedBy(viewerId, 'p.author_id')}
    and ${reachesViewer(viewerId, 'p.author_id')})`;
}

/**
 * The limit rule for a viewer: the author is not limited, or the viewer is the author or one of
 * their followers (who would see the post in their home feed anyway).
 */
export function reachesViewer(viewerId: string | null, column: string): RawBuilder<boolean> {
  if (viewerId === null) return reachesPublic(column);
  const author = sql.ref(column);
  return sql<boolean>`(${reachesPublic(column)} or ${author} = ${viewerId} or exists (
    select 1 from follows lf where lf.follower_id = ${viewerId} and lf.followee_id = ${author}))`;
}

/** Rows whose `column` (a user id) the viewer has muted are left out. */
export function notMutedBy(viewerId: string | null, column: string): RawBuilder<boolean> {
  if (viewerId === null) return sql<boolean>`true`;
  return sql<boolean>`not exists (select 1 from mutes m
    where m.muter_id = ${viewerId} and m.muted_id = ${sql.ref(column)})`;
}

/** The same for people found: nobody in a block with the viewer, either way. */
export function userDiscoverableTo(viewerId: string | null, column: string): RawBuilder<boolean> {
  return notBlockedWith(viewerId, column);
}

/**
 * `discoverableTo` for a scan over many posts (search): the same rule, with the viewer's
 * relations read once per query as sets that Postgres hashes (blocks either way, mutes, follows,
 * friends, suspended and limited users) instead of probed again for every post read. The probes
 * cost the most on exactly the scans that read many posts, and they left the planner no good
 * estimate of how many posts pass, so it read every match of a frequent word. Anonymous viewers
 * need no sets (the rule is a join the planner already hoists).
 *
 * The caller also applies `visibleTo` to the posts it returns (`selectHydrated`), so a rule
 * added to `visibleTo` only can shorten a page but never show a post; a rule added here or to
 * `discoverableTo` must be added to both (test/authorization/search.test.ts checks them).
 */
export function discoverableInBulkTo(viewerId: string | null): RawBuilder<boolean> {
  if (viewerId === null) return discoverableTo(null);
  const followees = sql`(select f.followee_id from follows f where f.follower_id = ${viewerId})`;
  const friends = sql`(select fr.friend_id from friendships fr where fr.user_id = ${viewerId})`;
  const hidden = sql`(select su.id from users su where su.suspended_at is not null
    union all select b.blocked_id from blocks b where b.blocker_id = ${viewerId}
    union all select b.blocker_id from blocks b where b.blocked_id = ${viewerId})`;
  const muted = sql`(select m.muted_id from mutes m where m.muter_id = ${viewerId})`;
  // Limited (or suspended) authors reach only their followers.
  const unreached = sql`(select ru.id from users ru
    where ru.limited_at is not null or ru.suspended_at is not null
    except select f.followee_id from follows f where f.follower_id = ${viewerId})`;
  return sql<boolean>`((p.author_id = ${viewerId} or (p.author_id not in ${hidden}
      and (p.visibility = 'public'
        or (p.visibility = 'followers' and p.author_id in ${followees})
        or (p.visibility = 'friends' and p.author_id in ${friends}))))
    and p.author_id not in ${muted}
    and (p.author_id = ${viewerId} or p.author_id not in ${unreached}))`;
}
