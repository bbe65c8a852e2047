import { Type } from 'typebox';
import { TAG_MAX } from '../../text.ts';

/** A tag as posts show it. */
export const TagRef = Type.Object({
  name: Type.String({ description: 'Normalised: NFKC, lower case, without `#`.' }),
  url: Type.String({ description: 'Its timeline: `/api/v1/tags/{name}/posts`.' }),
});

export const tagUrl = (name: string) => `/api/v1/tags/${encodeURIComponent(name)}/posts`;

export function presentTagRef(name: string) {
  return { name, url: tagUrl(name) };
}

export const TagParams = Type.Object({
  tag: Type.String({
    minLength: 1,
    maxLength: TAG_MAX * 4,
    description: 'A tag name, with or without `#`, in any case (`#Café` is `café`).',
  }),
});

export const FollowedTag = Type.Object({
  ...TagRef.properties,
  followed_at: Type.String({ format: 'date-time' }),
});

export const TagFollowState = Type.Object({
  ...TagRef.properties,
  following: Type.Boolean(),
  changed: Type.Boolean({ description: 'False when the request repeated the current state.' }),
});

export const TrendingTag = Type.Object({
  ...TagRef.properties,
  accounts: Type.Integer({
    description: 'Distinct authors who used it in public posts in the last 24 hours.',
  }),
  history: Type.Array(
    Type.Object({
      hour: Type.String({ format: 'date-time', description: 'Start of the hour (UTC).' }),
      accounts: Type.Integer({ description: 'Distinct authors in that hour.' }),
    }),
    { description: 'Hourly buckets, newest first; hours without a use are left out.' },
  ),
});
