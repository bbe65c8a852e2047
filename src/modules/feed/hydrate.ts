import type { UsersService } from '../accounts/users.service.ts';
import type { PostContentCache } from '../posts/post-content.cache.ts';
import type { HydratedPost, PostStats, PostsRepository } from '../posts/posts.repository.ts';
import type { Relations } from '../social/relations.cache.ts';

/** Of posts by people the viewer does not follow, those their timeline holds for another reason
 * (a followed tag). */
export type AlsoInFeed = (viewerId: string, postIds: string[]) => Promise<ReadonlySet<string>>;

/**
 * Turns post ids into feed items in a fixed number of round trips, whatever the page size:
 * contents from the cache, kept if their author is the viewer or someone they follow and have
 * not muted (the viewer's cached relations); then authors (cache) and, in one query, counters,
 * the viewer's likes, existence and visibility, where the database has the last word. A cached
 * text older than the post's last edit is read again. Order is kept.
 */
export class FeedHydrator {
  readonly #contents: PostContentCache;
  readonly #users: UsersService;
  readonly #posts: PostsRepository;

  readonly #alsoInFeed: AlsoInFeed | undefined;

  constructor(
    contents: PostContentCache,
    users: UsersService,
    posts: PostsRepository,
    alsoInFeed?: AlsoInFeed,
  ) {
    this.#contents = contents;
    this.#users = users;
    this.#posts = posts;
    this.#alsoInFeed = alsoInFeed;
  }

  hydrate(viewerId: string, ids: readonly string[], rel: Relations): Promise<HydratedPost[]> {
    return this.#hydrate(viewerId, ids, rel, (kept) =>
      this.#posts.stats(kept, viewerId, [...rel.blocked]),
    );
  }

  /** The same, with the counters already read (a row for each post the viewer may see). */
  hydrateWithStats(
    viewerId: string,
    ids: readonly string[],
    rel: Relations,
    stats: readonly PostStats[],
  ): Promise<HydratedPost[]> {
    return this.#hydrate(viewerId, ids, rel, async () => stats);
  }

  async #hydrate(
    viewerId: string,
    ids: readonly string[],
    rel: Relations,
    statsOf: (ids: string[]) => Promise<readonly PostStats[]>,
  ): Promise<HydratedPost[]> {
    const contents = await this.#contents.getMany(ids);
    const inFeed = (author: string) =>
      author === viewerId || (rel.following.has(author) && !rel.muted.has(author));
    const others = ids.filter((id) => {
      const post = contents.get(id);
      return post && !inFeed(post.author_id);
    });
    const also =
      others.length > 0 && this.#alsoInFeed ? await this.#alsoInFeed(viewerId, others) : undefined;
    const kept = ids.flatMap((id) => {
      const post = contents.get(id);
      if (!post) return [];
      return inFeed(post.author_id) || also?.has(id) ? [post] : [];
    });
    if (kept.length === 0) return [];
    const [authors, stats] = await Promise.all([
      this.#users.refsById(kept.map((p) => p.author_id)),
      statsOf(kept.map((p) => p.id)),
    ]);
    const statsById = new Map(stats.map((s) => [s.id, s]));
    // A cached text older than the last edit (an invalidation lost to a cache outage or a race
    // with a refill) is read again.
    const stale = kept.filter((p) => {
      const s = statsById.get(p.id);
      return s && (s.edited_at?.getTime() ?? null) !== (p.edited_at?.getTime() ?? null);
    });
    const fresh =
      stale.length > 0 ? await this.#contents.reload(stale.map((p) => p.id)) : undefined;
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
