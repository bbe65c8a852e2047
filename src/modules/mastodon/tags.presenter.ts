import type { Context } from '../../app/context.ts';

const DAY_SECONDS = 86_400;
/** Days of history a Tag carries, as Mastodon's (newest first, today included). */
const HISTORY_DAYS = 7;

/** Where a tag's page lives (Mastodon's `url`). */
export const tagUrl = (origin: string, name: string) =>
  `${origin}/tags/${encodeURIComponent(name)}`;

/**
 * kith tags as Mastodon Tag entities (docs entities/Tag.md): `history` is one bucket per UTC day
 * of the last week, newest first, with uses and distinct authors as strings, counted by kith's
 * trends rule (public posts by authors who reach the public, none by users in a block with the
 * viewer); `following` only for a signed-in viewer.
 */
export async function presentTags(
  ctx: Pick<Context, 'search'>,
  viewerId: string | null,
  origin: string,
  names: readonly string[],
) {
  const [uses, followed] = await Promise.all([
    ctx.search.trends.daily(viewerId, names, HISTORY_DAYS),
    viewerId === null ? undefined : ctx.search.tags.followedAmong(viewerId, names),
  ]);
  const byKey = new Map(uses.map((u) => [`${u.tag}\n${u.day}`, u]));
  const today = Math.floor(Date.now() / 1000 / DAY_SECONDS) * DAY_SECONDS;
  return names.map((name) => ({
    id: name,
    name,
    url: tagUrl(origin, name),
    history: Array.from({ length: HISTORY_DAYS }, (_, i) => {
      const day = today - i * DAY_SECONDS;
      const use = byKey.get(`${name}\n${day}`);
      return {
        day: String(day),
        uses: String(use?.uses ?? 0),
        accounts: String(use?.accounts ?? 0),
      };
    }),
    ...(followed && { following: followed.has(name) }),
  }));
}

export async function presentTag(
  ctx: Pick<Context, 'search'>,
  viewerId: string | null,
  origin: string,
  name: string,
) {
  return (await presentTags(ctx, viewerId, origin, [name]))[0]!;
}
