import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import { decodeCursor, Page, pageOf } from '../../http/pagination.ts';
import { presentSummary } from '../accounts/accounts.schemas.ts';
import { presentPost } from '../posts/posts.schemas.ts';
import {
  NameCursor,
  ScoreCursorSchema,
  SearchQuery,
  SearchResult,
  TrendsQuery,
} from './search.schemas.ts';
import { presentTagRef, TrendingTag } from './tags.schemas.ts';

const privacy =
  'Only what you may see: posts by their visibility, never by or about users in a block with you.';

/** Search and trends. */
export function searchRoutes(ctx: Context) {
  const { search, trends } = ctx.search;
  return async (app: App) => {
    app.get(
      '/search',
      {
        config: { auth: 'optional', scope: 'read:search' },
        schema: {
          tags: ['search'],
          summary: 'Search posts, people or tags',
          description: `${privacy} Posts: web search syntax (words, "phrases", \`or\`, \`-word\`), ranked by relevance then newest first; muted authors left out. People: by username or display name, tolerant of typos, case and accents. Tags: names starting with \`q\`, used in a post you may see. 400 \`invalid_cursor\` for a cursor of another type.`,
          querystring: SearchQuery,
          response: { 200: Page(SearchResult) },
        },
      },
      async (request, reply) => {
        const { q, type, limit, cursor } = request.query;
        const viewer = request.principal?.userId ?? null;
        if (type === 'posts') {
          const after = decodeCursor(ScoreCursorSchema, cursor);
          const rows = await search.posts(viewer, q, after, limit + 1);
          return pageOf(request, reply, rows, limit, presentPost, (p) => ({
            s: p.rank,
            id: p.id,
            f: p.floor,
          }));
        }
        if (type === 'accounts') {
          const after = decodeCursor(ScoreCursorSchema, cursor);
          const rows = await search.accounts(viewer, q, after, limit + 1);
          return pageOf(request, reply, rows, limit, presentSummary, (u) => ({
            s: u.score,
            id: u.id,
          }));
        }
        const after = decodeCursor(NameCursor, cursor)?.name;
        const names = await search.tags(viewer, q, after, limit + 1);
        return pageOf(request, reply, names, limit, presentTagRef, (name) => ({ name }));
      },
    );

    app.get(
      '/trends/tags',
      {
        config: { auth: 'optional', scope: 'read:statuses' },
        schema: {
          tags: ['search'],
          summary: 'Trending tags',
          description:
            'Tags used in public posts by the most distinct authors in the last 24 hours, with hourly buckets. Recomputed about once a minute; authors in a block with you are not counted.',
          querystring: TrendsQuery,
          response: { 200: Type.Array(TrendingTag) },
        },
      },
      async (request) => {
        const rows = await trends.tags(request.principal?.userId ?? null, request.query.limit);
        return rows.map((t) => ({ ...presentTagRef(t.name), ...t }));
      },
    );
  };
}
