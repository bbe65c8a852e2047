/**
 * Every domain event kith emits, with its payload. Payloads carry ids only: consumers read the
 * current state they need, so an event never carries stale or private data.
 */
export interface EventMap {
  /** The welcome mail carries a link with this address-verification token. */
  'user.registered': { user_id: string; verification_token_id: string };
  /** A new verification link was asked for (resend, or a change of address to verify). */
  'email.verification_requested': { user_id: string; token_id: string };
  'password_reset.requested': { user_id: string; token_id: string };
  'follow.created': { follower_id: string; followee_id: string };
  'follow.removed': { follower_id: string; followee_id: string };
  'friend_request.sent': { request_id: string; sender_id: string; recipient_id: string };
  'friend_request.accepted': { request_id: string; sender_id: string; recipient_id: string };
  'friendship.removed': { user_id: string; friend_id: string };
  'block.created': { blocker_id: string; blocked_id: string };
  /**
   * `mentions` false: the text names nobody; `tags` false: it has no hashtags (either absent in
   * older events: look).
   */
  'post.created': { post_id: string; author_id: string; mentions?: boolean; tags?: boolean };
  'post.edited': { post_id: string; author_id: string };
  /**
   * `fan_out` false: the post never went into followers' timelines. `visibility`: whom the post
   * was for, so its deletion is announced only to those who may have seen it (the row is gone).
   * Both are absent in older events.
   */
  'post.deleted': {
    post_id: string;
    author_id: string;
    fan_out?: boolean;
    visibility?: 'public' | 'followers' | 'friends';
  };
  'post.liked': { post_id: string; author_id: string; user_id: string };
  'comment.created': {
    comment_id: string;
    post_id: string;
    author_id: string;
    post_author_id: string;
  };
  /** A user asked for an export of their data; the worker builds it and mails the link. */
  'export.requested': { export_id: string; user_id: string };
  /** A moderator acted on the user's account (see its `moderation_audit` row): tell them. */
  'moderation.action_taken': { audit_id: string; user_id: string };
  /** An upload was deleted: its files go, then its row (a post's media go with post.deleted). */
  'media.deleted': { media_id: string; owner_id: string };
}

export type EventType = keyof EventMap;

export const EVENT_TYPES = [
  'user.registered',
  'email.verification_requested',
  'password_reset.requested',
  'follow.created',
  'follow.removed',
  'friend_request.sent',
  'friend_request.accepted',
  'friendship.removed',
  'block.created',
  'post.created',
  'post.edited',
  'post.deleted',
  'post.liked',
  'comment.created',
  'export.requested',
  'moderation.action_taken',
  'media.deleted',
] as const satisfies readonly EventType[];
