import { Type } from 'typebox';
import { PageQuery } from '../../http/pagination.ts';
import { UserSummary } from '../accounts/accounts.schemas.ts';
import { Post } from '../posts/posts.schemas.ts';
import { QUERY_MAX } from './search.service.ts';
import { TagRef } from './tags.schemas.ts';

export const SearchQuery = Type.Object({
  q: Type.String({
    minLength: 1,
    maxLength: QUERY_MAX * 2,
    description: `What to look for, 1-${QUERY_MAX} characters after trimming (see docs/SEARCH.md).`,
  }),
  type: Type.Union([Type.Literal('posts'), Type.Literal('accounts'), Type.Literal('tags')], {
    default: 'posts',
    description:
      '`posts`: full text, best match first; `accounts`: people by username or display name; `tags`: tag names starting with `q`.',
  }),
  ...PageQuery,
});

export const SearchResult = Type.Union([Post, UserSummary, TagRef]);

/** Keyset positions of each kind of result. */
export const ScoreCursorSchema = Type.Object({
  s: Type.Number(),
  id: Type.String({ format: 'uuid' }),
  // Posts: the oldest of the matches the first page ranked (see SearchRepository.posts).
  f: Type.Optional(Type.String({ format: 'uuid' })),
});
export const NameCursor = Type.Object({ name: Type.String() });

export const TrendsQuery = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 20, default: 10, description: 'Tags to list.' }),
});
