import type { UsersService } from '../accounts/users.service.ts';
import type { LikedCache } from '../posts/liked.cache.ts';
import type { PostContent, PostContentCache } from '../posts/post-content.cache.ts';
import type { PostCountersCache } from '../posts/post-counters.cache.ts';
import type { HydratedPost, PostStats, PostsRepository } from '../posts/posts.repository.ts';
import type { Relations } from '../social/relations.cache.ts';

/** Of posts by people the viewer does not follow, those their timeline holds for another reason
 * (a followed tag). */
export type AlsoInFeed = (viewerId: string, postIds: string[]) => Promise<ReadonlySet<string>>;

export interface HydratorDeps {
  contents: PostContentCache;
  counters: PostCountersCache;
  liked: LikedCache;
  users: UsersService;
  posts: PostsRepository;
  alsoInFeed?: AlsoInFeed;
}

/** The read rule of `visibleTo` (posts/visibility.repository.ts), on the viewer's relations. */
function mayView(viewerId: string, rel: Relations, post: PostContent): boolean {
  const author = post.author_id;
  if (author === viewerId) return true;
  if (rel.blocked.has(author)) return false;
  if (post.visibility === 'public') return true;
  if (post.visibility === 'followers') return rel.following.has(author);
  return rel.friends.has(author);
}

/**
 * Turns post ids into feed items in a fixed number of round trips, whatever the page size, and
 * with no SQL when the caches hold the page: contents, kept if their author is the viewer or
 * someone they follow and have not muted and the viewer may see them (the cached relations);
 * then authors, counters and the viewer's likes, each from its cache. A viewer in a block with
 * someone sees counters without that user's likes and comments: those are counted in SQL. A
 * cached text older than the post's last edit is read again. Order is kept.
 */
export class FeedHydrator {
  readonly #d: HydratorDeps;

  constructor(deps: HydratorDeps) {
    this.#d = deps;
  }

  async hydrate(viewerId: string, ids: readonly string[], rel: Relations): Promise<HydratedPost[]> {
    const kept = await this.#kept(viewerId, ids, rel);
    if (kept.length === 0) return [];
    const keptIds = kept.map((p) => p.id);
    const stats = async (): Promise<PostStats[]> => {
      if (rel.blocked.size > 0) return this.#d.posts.stats(keptIds, viewerId, [...rel.blocked]);
      const [counters, liked] = await Promise.all([
        this.#d.counters.getMany(keptIds),
        this.#d.liked.among(viewerId, keptIds),
      ]);
      return [...counters.values()].map((c) => ({ ...c, liked: liked.has(c.id) }));
    };
    const [authors, read] = await Promise.all([this.#authors(kept), stats()]);
    return this.#present(kept, read, authors);
  }

  /** The same, with the counters already read in SQL (a row for each post the viewer may see). */
  async hydrateWithStats(
    viewerId: string,
    ids: readonly string[],
    rel: Relations,
    stats: readonly PostStats[],
  ): Promise<HydratedPost[]> {
    const kept = await this.#kept(viewerId, ids, rel);
    return this.#present(kept, stats, await this.#authors(kept));
  }

  #authors(kept: readonly PostContent[]) {
    return this.#d.users.refsById(kept.map((p) => p.author_id));
  }

  async #kept(viewerId: string, ids: readonly string[], rel: Relations): Promise<PostContent[]> {
    const contents = await this.#d.contents.getMany(ids);
    const inFeed = (author: string) =>
      author === viewerId || (rel.following.has(author) && !rel.muted.has(author));
    // Posts of people the viewer does not follow are there for a followed tag, or no longer
    // belong (an unfollow): only those ask the database.
    const others = ids.filter((id) => {
      const post = contents.get(id);
      return post && !inFeed(post.author_id);
    });
    const also =
      others.length > 0 && this.#d.alsoInFeed
        ? await this.#d.alsoInFeed(viewerId, others)
        : undefined;
    return ids.flatMap((id) => {
      const post = contents.get(id);
      if (!post) return [];
      const wanted = inFeed(post.author_id) || also?.has(id) === true;
      return wanted && mayView(viewerId, rel, post) ? [post] : [];
    });
  }

  async #present(
    kept: PostContent[],
    stats: readonly PostStats[],
    authors: Awaited<ReturnType<UsersService['refsById']>>,
  ): Promise<HydratedPost[]> {
    if (kept.length === 0) return [];
    const statsById = new Map(stats.map((s) => [s.id, s]));
    // A cached text older than the last edit (an invalidation lost to a cache outage or a race
    // with a refill) is read again.
    const stale = kept.filter((p) => {
      const s = statsById.get(p.id);
      return s && (s.edited_at?.getTime() ?? null) !== (p.edited_at?.getTime() ?? null);
    });
    const fresh =
      stale.length > 0 ? await this.#d.contents.reload(stale.map((p) => p.id)) : undefined;
    return kept.flatMap((cached) => {
      const post = fresh?.get(cached.id) ?? cached;
      const s = statsById.get(post.id);
      const author = authors.get(post.author_id);
      if (!s || !author) return [];
      return [
        {
          ...post,
          like_count: s.like_count,
          comment_count: s.comment_count,
          liked: s.liked,
          author_username: author.username,
          author_display_name: author.display_name,
        },
      ];
    });
  }
}
