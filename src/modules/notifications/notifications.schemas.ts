import { Type } from 'typebox';
import { UserSummary } from '../accounts/accounts.schemas.ts';
import { NOTIFICATION_TYPES } from './notifications.repository.ts';

export const NotificationType = Type.Union(
  [
    Type.Literal('friend_request'),
    Type.Literal('friend_accepted'),
    Type.Literal('follow'),
    Type.Literal('like'),
    Type.Literal('comment'),
    Type.Literal('mention'),
  ],
  { description: `One of ${NOTIFICATION_TYPES.join(', ')}.` },
);

export const Notification = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: NotificationType,
  actors: Type.Array(UserSummary, {
    description: 'Who did it, newest first (at most 5; likes of one post are grouped).',
  }),
  actor_count: Type.Integer({ description: 'How many people in all ("ana and 3 others").' }),
  post_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  comment_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  request_id: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
  read: Type.Boolean(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time', description: 'Last activity (a new like).' }),
});
