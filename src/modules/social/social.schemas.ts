import { Type } from 'typebox';
import type { FriendRequestView } from './friends.service.ts';
import { NO_CONTROLS, presentSummary, UserSummary } from '../accounts/accounts.schemas.ts';
import { PageQuery } from '../../http/pagination.ts';

export { UsernameParams } from '../accounts/accounts.schemas.ts';
export const RequestParams = Type.Object({ id: Type.String({ format: 'uuid' }) });

export const Relationship = Type.Object({
  username: Type.String(),
  following: Type.Boolean(),
  followed_by: Type.Boolean(),
  friends: Type.Boolean(),
  request_outgoing: Type.Boolean(),
  request_incoming: Type.Boolean(),
  blocking: Type.Boolean(),
  blocked_by: Type.Boolean(),
  muting: Type.Boolean(),
});

export const RelationshipsQuery = Type.Object({
  users: Type.String({
    minLength: 1,
    maxLength: 3100,
    pattern: NO_CONTROLS,
    description: 'Comma-separated usernames (at most 100).',
    examples: ['ana,ben'],
  }),
});

export const FriendRequest = Type.Object({
  id: Type.String({ format: 'uuid' }),
  from: UserSummary,
  to: UserSummary,
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('accepted'),
    Type.Literal('declined'),
    Type.Literal('cancelled'),
  ]),
  created_at: Type.String({ format: 'date-time' }),
  responded_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

export const FriendRequestsQuery = Type.Object({
  direction: Type.Union([Type.Literal('incoming'), Type.Literal('outgoing')], {
    default: 'incoming',
  }),
  ...PageQuery,
});

export const ListedUser = Type.Object({
  ...UserSummary.properties,
  since: Type.String({ format: 'date-time' }),
});

export const Suggestion = Type.Object({ user: UserSummary, mutual_friends: Type.Integer() });

export function presentRequest(v: FriendRequestView) {
  return {
    id: v.request.id,
    from: presentSummary(v.sender),
    to: presentSummary(v.recipient),
    status: v.request.status,
    created_at: v.request.created_at.toISOString(),
    responded_at: v.request.responded_at?.toISOString() ?? null,
  };
}
