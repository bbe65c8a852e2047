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
