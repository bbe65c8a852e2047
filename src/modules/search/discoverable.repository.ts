import { sql, type RawBuilder } from 'kysely';
import { notBlockedWith, visibleTo } from '../posts/visibility.repository.ts';

/**
 * The one rule for posts found rather than followed (search, the public and tag timelines,
 * trends), as SQL over a `posts` row aliased `p`: the viewer may see it (visibility and blocks
 * either way, see `visibleTo`) and has not muted its author. Anything that should hide a post
 * from discovery (a moderator's limit, say) is added here and reaches every one of them.
 */
export function discoverableTo(viewerId: string | null): RawBuilder<boolean> {
  return sql<boolean>`(${visibleTo(viewerId)} and ${notMutedBy(viewerId, 'p.author_id')})`;
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
