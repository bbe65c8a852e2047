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
}

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

export interface DB {
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUserRow = Insertable<UsersTable>;
export type RefreshTokenRow = Selectable<RefreshTokensTable>;
