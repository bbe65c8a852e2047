import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Timestamps are written as Date (or defaulted) and read back as Date. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface UsersTable {
  id: string;
  username: string;
  email: string;
  password_hash: string;
  display_name: string;
  bio: Generated<string>;
  /** ISO date `YYYY-MM-DD`; read back as a string, never as a Date (no time-zone drift). */
  dob: string;
  created_at: Timestamp;
  updated_at: Timestamp;
  post_count: Generated<number>;
  follower_count: Generated<number>;
  following_count: Generated<number>;
  friend_count: Generated<number>;
  last_active_at: Generated<Date>;
  email_verified_at: Date | null;
  stream_seq: Generated<number>;
  dm_policy: Generated<DmPolicy>;
  /** Set while a requested deletion waits out its grace period. */
  deactivated_at: Generated<Date | null>;
  /** What the account may do beyond a user's rights (see docs/MODERATION.md). */
  role: Generated<UserRole>;
  /** Set while suspended: the account and everything it made are hidden, its logins refused. */
  suspended_at: Date | null;
  /** Set while limited: its posts reach only its followers (no public timelines, search, trends). */
  limited_at: Date | null;
  /** Access tokens issued up to then are refused (set when the account is suspended). */
  sessions_revoked_at: Date | null;
  /** The avatar's URL (a `media` row with purpose `avatar` holds its file); null: the default. */
  avatar_url: Generated<string | null>;
  /** The header's URL (a `media` row with purpose `header`); null: the default. */
  header_url: Generated<string | null>;
}

export type UserRole = 'user' | 'moderator' | 'admin';

export type DmPolicy = 'everyone' | 'followers' | 'friends' | 'nobody';

export type CounterColumn = 'post_count' | 'follower_count' | 'following_count' | 'friend_count';

export interface RefreshTokensTable {
  id: string;
  user_id: string;
  /** Every token issued from one login shares a family; reuse of a rotated one revokes it. */
  family_id: string;
  token_hash: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  rotated_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface FollowsTable {
  follower_id: string;
  followee_id: string;
  created_at: Generated<Date>;
}

/** One row per direction: (a, b) and (b, a). */
export interface FriendshipsTable {
  user_id: string;
  friend_id: string;
  created_at: Generated<Date>;
}

export type FriendRequestStatus = 'pending' | 'accepted' | 'declined' | 'cancelled';

export interface FriendRequestsTable {
  id: string;
  sender_id: string;
  recipient_id: string;
  status: FriendRequestStatus;
  created_at: Generated<Date>;
  responded_at: Date | null;
}

export interface BlocksTable {
  blocker_id: string;
  blocked_id: string;
  created_at: Generated<Date>;
}

export interface MutesTable {
  muter_id: string;
  muted_id: string;
  created_at: Generated<Date>;
}

export type Visibility = 'public' | 'followers' | 'friends';

export interface PostsTable {
  id: string;
  author_id: string;
  text: string;
  visibility: Visibility;
  like_count: Generated<number>;
  comment_count: Generated<number>;
  created_at: Generated<Date>;
  edited_at: Date | null;
  /** False when the author was above the fan-out threshold: merged into feeds at read time. */
  fan_out: Generated<boolean>;
  /** A fanned-out post not yet in every follower's timeline: merged into feeds at read time. */
  fanout_pending: Generated<boolean>;
}

export interface PostVersionsTable {
  id: string;
  post_id: string;
  text: string;
  visibility: Visibility;
  written_at: Date;
  replaced_at: Generated<Date>;
}

export interface LikesTable {
  post_id: string;
  user_id: string;
  created_at: Generated<Date>;
}

export interface CommentsTable {
  id: string;
  post_id: string;
  author_id: string;
  text: string;
  created_at: Generated<Date>;
  edited_at: Date | null;
}

export interface IdempotencyKeysTable {
  user_id: string;
  key: string;
  scope: string;
  request_hash: string;
  resource_id: string | null;
  created_at: Generated<Date>;
}

export interface OutboxTable {
  id: string;
  type: string;
  data: ColumnType<Record<string, unknown>, string, string>;
  created_at: Generated<Date>;
  published_at: Date | null;
  claimed_until: Date | null;
  attempts: Generated<number>;
  last_error: string | null;
}

export interface ProcessedEventsTable {
  consumer: string;
  event_id: string;
  processed_at: Generated<Date>;
}

export type EmailTokenPurpose = 'verify_email' | 'reset_password';

export interface EmailTokensTable {
  id: string;
  user_id: string;
  purpose: EmailTokenPurpose;
  email: string;
  created_at: Generated<Date>;
  expires_at: Date;
  used_at: Date | null;
}

export interface MailDeliveriesTable {
  event_id: string;
  kind: string;
  recipient: string;
  sent_at: Generated<Date>;
}

export interface StreamEventsTable {
  user_id: string;
  seq: number;
  type: string;
  data: ColumnType<Record<string, unknown>, string, string>;
  created_at: Generated<Date>;
}

export interface NotificationsTable {
  id: string;
  user_id: string;
  type: string;
  group_key: string | null;
  actor_id: string;
  actor_count: Generated<number>;
  post_id: string | null;
  comment_id: string | null;
  request_id: string | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  read_at: Date | null;
}

export interface NotificationActorsTable {
  notification_id: string;
  actor_id: string;
  created_at: Generated<Date>;
}

export interface ConversationsTable {
  id: string;
  user_a: string;
  user_b: string;
  created_at: Generated<Date>;
  last_message_id: string | null;
}

export interface ConversationMembersTable {
  conversation_id: string;
  user_id: string;
  last_read_id: string | null;
}

export interface MessagesTable {
  id: string;
  conversation_id: string;
  sender_id: string;
  text: string;
  created_at: Generated<Date>;
}

/** DeathStarBench compatibility: the numeric user id DSB's loader gave a kith user. */
export interface DsbUsersTable {
  dsb_id: string;
  user_id: string;
}

export interface DsbMedia {
  media_id: string;
  media_type: string;
}

export interface DsbMention {
  user_id: string;
  username: string;
}

/** DeathStarBench compatibility: a DSB post's fields beyond kith's. */
export interface DsbPostsTable {
  post_id: string;
  creator_dsb_id: string;
  req_id: string;
  post_type: number;
  media: ColumnType<DsbMedia[], string | undefined, string>;
  mentions: ColumnType<DsbMention[], string | undefined, string>;
}

/** DeathStarBench compatibility: a post delivered to the home timeline of a user it mentions. */
export interface DsbMentionsTable {
  user_id: string;
  post_id: string;
}

/** A Mastodon app's reading position in a timeline (`home`, `notifications`). */
export interface MastodonMarkersTable {
  user_id: string;
  timeline: string;
  last_read_id: string;
  version: Generated<number>;
  updated_at: Generated<Date>;
}
/** An uploaded picture: unattached (post_id null) until a post takes it. */
export interface MediaTable {
  id: string;
  owner_id: string;
  post_id: string | null;
  position: Generated<number>;
  kind: Generated<string>;
  /** `attachment` (of a post), or the owner's `avatar` or `header`. */
  purpose: Generated<MediaPurpose>;
  original_key: string;
  preview_key: string;
  url: string;
  preview_url: string;
  content_type: string;
  width: number;
  height: number;
  preview_width: number;
  preview_height: number;
  blurhash: string;
  description: Generated<string>;
  focus_x: Generated<number>;
  focus_y: Generated<number>;
  deleted_at: Date | null;
  created_at: Generated<Date>;
}
export type MediaRow = Selectable<MediaTable>;
export type MediaPurpose = 'attachment' | 'avatar' | 'header';

export interface DB {
  media: MediaTable;
  dsb_users: DsbUsersTable;
  dsb_posts: DsbPostsTable;
  dsb_mentions: DsbMentionsTable;
  stream_events: StreamEventsTable;
  notifications: NotificationsTable;
  notification_actors: NotificationActorsTable;
  conversations: ConversationsTable;
  conversation_members: ConversationMembersTable;
  messages: MessagesTable;
  email_tokens: EmailTokensTable;
  mail_deliveries: MailDeliveriesTable;
  outbox: OutboxTable;
  processed_events: ProcessedEventsTable;
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  follows: FollowsTable;
  friendships: FriendshipsTable;
  friend_requests: FriendRequestsTable;
  blocks: BlocksTable;
  mutes: MutesTable;
  posts: PostsTable;
  post_versions: PostVersionsTable;
  likes: LikesTable;
  comments: CommentsTable;
  idempotency_keys: IdempotencyKeysTable;
  oauth_apps: OAuthAppsTable;
  oauth_codes: OAuthCodesTable;
  oauth_tokens: OAuthTokensTable;
  account_deletions: AccountDeletionsTable;
  reserved_usernames: ReservedUsernamesTable;
  data_exports: DataExportsTable;
  mastodon_markers: MastodonMarkersTable;
  reports: ReportsTable;
  report_notes: ReportNotesTable;
  moderation_audit: ModerationAuditTable;
}

export type ReportCategory = 'spam' | 'abuse' | 'illegal' | 'other';
export type ModerationAction = 'dismiss' | 'delete_content' | 'limit' | 'suspend';

export interface ReportsTable {
  id: string;
  reporter_id: string;
  account_id: string;
  category: ReportCategory;
  comment: Generated<string>;
  post_ids: ColumnType<string[], string, string>;
  comment_ids: ColumnType<string[], string, string>;
  status: Generated<'open' | 'resolved'>;
  assignee_id: string | null;
  action: ModerationAction | null;
  resolution: string | null;
  resolved_by: string | null;
  resolved_at: Date | null;
  created_at: Generated<Date>;
}

export interface ReportNotesTable {
  id: string;
  report_id: string;
  author_id: string | null;
  text: string;
  created_at: Generated<Date>;
}

export interface ModerationAuditTable {
  id: string;
  moderator_id: string | null;
  action: string;
  target_user_id: string | null;
  report_id: string | null;
  reason: Generated<string>;
  details: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: Generated<Date>;
}

/** A post as the application sees it (`fanout_pending` is the feed's bookkeeping). */
export type PostRow = Omit<Selectable<PostsTable>, 'fanout_pending'>;
export type EmailTokenRow = Selectable<EmailTokensTable>;
export type CommentRow = Selectable<CommentsTable>;
export type FriendRequestRow = Selectable<FriendRequestsTable>;

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type RefreshTokenRow = Selectable<RefreshTokensTable>;

export interface OAuthAppsTable {
  id: string;
  name: string;
  website: string | null;
  /** Newline-separated. */
  redirect_uris: string;
  /** Space-separated. */
  scopes: string;
  client_id: string;
  client_secret_hash: string;
  created_at: Timestamp;
}

export interface OAuthCodesTable {
  code_hash: string;
  app_id: string;
  user_id: string;
  redirect_uri: string;
  scopes: string;
  code_challenge: string | null;
  code_challenge_method: string | null;
  expires_at: Timestamp;
}

export interface OAuthTokensTable {
  id: string;
  token_hash: string;
  app_id: string;
  /** Null for an application token (client_credentials grant). */
  user_id: string | null;
  scopes: string;
  created_at: Timestamp;
  revoked_at: Timestamp | null;
}

export type OAuthAppRow = Selectable<OAuthAppsTable>;
export interface AccountDeletionsTable {
  user_id: string;
  requested_at: Generated<Date>;
  erase_after: Date;
  phase: Generated<string>;
  batches: Generated<number>;
  claimed_until: Date | null;
}

export interface ReservedUsernamesTable {
  username: string;
  reserved_at: Generated<Date>;
}

export type ExportStatus = 'pending' | 'ready' | 'failed' | 'expired';

export interface DataExportsTable {
  id: string;
  user_id: string;
  status: ExportStatus;
  token_hash: string | null;
  file: string | null;
  bytes: string | number | null;
  created_at: Generated<Date>;
  ready_at: Date | null;
  expires_at: Date | null;
}
