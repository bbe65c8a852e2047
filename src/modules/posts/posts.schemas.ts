import { Type } from 'typebox';
import { UserSummary } from '../accounts/accounts.schemas.ts';
import type { HydratedPost } from './posts.repository.ts';
import { POST_MAX } from './posts.service.ts';
import type { PostVersionsTable } from '../../infra/db/schema.ts';
import type { Selectable } from 'kysely';
import { Media, MediaIds, presentMedia } from '../media/media.schemas.ts';
import { hashtagsOf } from '../../text.ts';
import { TagRef, presentTagRef } from '../search/tags.schemas.ts';

export const VisibilitySchema = Type.Union(
  [Type.Literal('public'), Type.Literal('followers'), Type.Literal('friends')],
  {
    description:
      '`public`: everyone; `followers`: people who follow you (friends included); `friends`: friends only.',
  },
);

// The schema bounds raw size; the exact rule (1-5,000 characters after trimming) is checked after normalising.
const PostText = Type.String({
  maxLength: POST_MAX * 2,
  description: `1-${POST_MAX} characters after trimming.`,
});

export const PostParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const CreatePostBody = Type.Object(
  {
    text: PostText,
    visibility: Type.Optional(VisibilitySchema),
    media_ids: Type.Optional(MediaIds),
  },
  { additionalProperties: false },
);

export const UpdatePostBody = Type.Object(
  {
    text: Type.Optional(PostText),
    visibility: Type.Optional(VisibilitySchema),
    media_ids: Type.Optional(MediaIds),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const Post = Type.Object({
  id: Type.String({ format: 'uuid' }),
  author: UserSummary,
  text: Type.String(),
  visibility: VisibilitySchema,
  like_count: Type.Integer({
    description:
      'Likes as you may list them (`GET /posts/{id}/likes`): likes by users in a block with you are not counted.',
  }),
  comment_count: Type.Integer({
    description:
      'Comments as you may list them (`GET /posts/{id}/comments`): comments by users in a block with you are not counted.',
  }),
  liked: Type.Boolean({ description: 'Whether you liked it (false when anonymous).' }),
  created_at: Type.String({ format: 'date-time' }),
  edited_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  media: Type.Array(Media, { description: 'Its pictures, in order.' }),
  tags: Type.Array(TagRef, { description: 'The `#hashtags` of the text, normalised.' }),
});

export const PostVersion = Type.Object({
  id: Type.String({ format: 'uuid' }),
  text: Type.String(),
  visibility: VisibilitySchema,
  written_at: Type.String({ format: 'date-time', description: 'When this version was written.' }),
  replaced_at: Type.String({ format: 'date-time', description: 'When an edit replaced it.' }),
});

export const LikeState = Type.Object({
  liked: Type.Boolean(),
  like_count: Type.Integer({
    description: 'As in a post: likes by users in a block with you are not counted.',
  }),
  changed: Type.Boolean({ description: 'False when the request repeated the current state.' }),
});

export const Liker = Type.Object({
  ...UserSummary.properties,
  liked_at: Type.String({ format: 'date-time' }),
});

export function presentPost(p: HydratedPost) {
  return {
    id: p.id,
    author: { id: p.author_id, username: p.author_username, display_name: p.author_display_name },
    text: p.text,
    visibility: p.visibility,
    like_count: p.like_count,
    comment_count: p.comment_count,
    liked: p.liked,
    created_at: p.created_at.toISOString(),
    edited_at: p.edited_at?.toISOString() ?? null,
    media: p.media.map(presentMedia),
    tags: hashtagsOf(p.text).map(presentTagRef),
  };
}

export function presentVersion(v: Selectable<PostVersionsTable>) {
  return {
    id: v.id,
    text: v.text,
    visibility: v.visibility,
    written_at: v.written_at.toISOString(),
    replaced_at: v.replaced_at.toISOString(),
  };
}
