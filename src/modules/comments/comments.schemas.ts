import { Type } from 'typebox';
import { UserSummary } from '../accounts/accounts.schemas.ts';
import type { HydratedComment } from './comments.repository.ts';
import { COMMENT_MAX } from './comments.service.ts';

export const CommentText = Type.String({
  maxLength: COMMENT_MAX * 2,
  description: `1-${COMMENT_MAX} characters after trimming.`,
});

export const CommentBody = Type.Object({ text: CommentText }, { additionalProperties: false });

export const CommentParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const Comment = Type.Object({
  id: Type.String({ format: 'uuid' }),
  post_id: Type.String({ format: 'uuid' }),
  author: UserSummary,
  text: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  edited_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export function presentComment(c: HydratedComment) {
  return {
    id: c.id,
    post_id: c.post_id,
    author: { id: c.author_id, username: c.author_username, display_name: c.author_display_name },
    text: c.text,
    created_at: c.created_at.toISOString(),
    edited_at: c.edited_at?.toISOString() ?? null,
  };
}
