import type { UsersService } from '../accounts/users.service.ts';
import type { PostContentCache } from '../posts/post-cache.ts';
import type { HydratedPost, PostsRepository } from '../posts/posts.repository.ts';
import { canSee } from '../posts/visibility.ts';
import type { Relations } from '../social/relations.ts';

/**
 * Turns post ids into feed items in a fixed number of round trips, whatever the page size:
 * contents (cache), then the filter (visibility, blocks, mutes, still followed) from the
 * viewer's cached relations, then authors (cache) and counters with the viewer's likes (one
 * query, which also drops posts deleted since they were cached). Order is kept.
 */
export class FeedHydrator {
  readonly #contents: PostContentCache;
  readonly #users: UsersService;
  readonly #posts: PostsRepository;

  constructor(contents: PostContentCache, users: UsersService, posts: PostsRepository) {
    this.#contents = contents;
    this.#users = users;
    this.#posts = posts;
  }

  async hydrate(viewerId: string, ids: readonly string[], rel: Relations): Promise<HydratedPost[]> {
    const contents = await this.#contents.getMany(ids);
    const kept = ids.flatMap((id) => {
      const post = contents.get(id);
      if (!post) return [];
      const author = post.author_id;
      const inFeed = author === viewerId || (rel.following.has(author) && !rel.muted.has(author));
      return inFeed && canSee(viewerId, post, rel) ? [post] : [];
    });
    if (kept.length === 0) return [];
    const [authors, stats] = await Promise.all([
      this.#users.refsById(kept.map((p) => p.author_id)),
      this.#posts.stats(
        kept.map((p) => p.id),
        viewerId,
      ),
    ]);
    const statsById = new Map(stats.map((s) => [s.id, s]));
    return kept.flatMap((post) => {
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
