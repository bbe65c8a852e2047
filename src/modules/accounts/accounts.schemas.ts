import { Type } from 'typebox';
import type { UserRow } from '../../infra/db/schema.ts';
import { PageQuery } from '../../http/pagination.ts';
import { BIO_MAX, DISPLAY_NAME_MAX } from './users.service.ts';
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS } from './passwords.ts';
import { picturesOf } from '../media/profile-pictures.service.ts';

/**
 * For text that is looked up but never stored (logins, names in paths, search prefixes, cursor
 * fields): no control characters. Postgres text cannot hold NUL, and no name contains any.
 */
export const NO_CONTROLS = '^[^\\u0000-\\u001f\\u007f]*$';

export const Username = Type.String({
  pattern: '^[A-Za-z0-9_]{3,30}$',
  description:
    '3-30 of a-z, 0-9 and _; case-insensitive, stored in lower case. Compatibility forms (fullwidth `ａ`, ligatures) are folded to these first (NFKC); other scripts are refused.',
  examples: ['ana_92'],
});

const Password = Type.String({
  minLength: PASSWORD_MIN_CHARS,
  maxLength: PASSWORD_MAX_BYTES,
  description: `${PASSWORD_MIN_CHARS}+ characters, at most ${PASSWORD_MAX_BYTES} bytes in UTF-8 (never truncated).`,
});

/** The short form of a user embedded in posts, comments and lists. */
export const UserSummary = Type.Object({
  id: Type.String({ format: 'uuid' }),
  username: Type.String(),
  display_name: Type.String(),
});

export const PublicUser = Type.Object({
  ...UserSummary.properties,
  bio: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  post_count: Type.Integer({
    description:
      'The posts you may see (`GET /users/{username}/posts`): all of them for the owner and their friends, public and followers-only ones for a follower, public ones for anyone else.',
  }),
  follower_count: Type.Integer({
    description: 'Followers you may list: users in a block with you are not counted.',
  }),
  following_count: Type.Integer({
    description: 'Followed users you may list: users in a block with you are not counted.',
  }),
  friend_count: Type.Integer({
    description: 'Friends you may list: users in a block with you are not counted.',
  }),
  avatar_url: Type.String({
    description: "A 400×400 picture: theirs, or kith's default avatar when they have none.",
  }),
  header_url: Type.String({
    description: "A 1500×500 banner: theirs, or kith's default header when they have none.",
  }),
});

export const DmPolicySchema = Type.Union(
  [
    Type.Literal('everyone'),
    Type.Literal('followers'),
    Type.Literal('friends'),
    Type.Literal('nobody'),
  ],
  {
    description:
      'Who may message you: `everyone`, `followers` (people who follow you), `friends` or `nobody`. Blocked users never can.',
  },
);

export const Me = Type.Object({
  ...PublicUser.properties,
  email: Type.String({ format: 'email' }),
  email_verified: Type.Boolean({
    description: 'Whether the address was confirmed through the link mailed to it.',
  }),
  dob: Type.String({ format: 'date' }),
  dm_policy: DmPolicySchema,
  updated_at: Type.String({ format: 'date-time' }),
});

export const RegisterBody = Type.Object(
  {
    username: Username,
    email: Type.String({ format: 'email', maxLength: 254 }),
    password: Password,
    dob: Type.String({
      format: 'date',
      description: 'ISO date of birth (YYYY-MM-DD); users must be 13 or older.',
    }),
    display_name: Type.Optional(Type.String({ maxLength: DISPLAY_NAME_MAX * 4 })),
  },
  { additionalProperties: false },
);

export const LoginBody = Type.Object(
  {
    login: Type.String({
      minLength: 1,
      maxLength: 254,
      pattern: NO_CONTROLS,
      description: 'Username or e-mail address.',
    }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);

export const RefreshBody = Type.Object(
  { refresh_token: Type.String({ minLength: 1, maxLength: 256 }) },
  { additionalProperties: false },
);

export const SessionResponse = Type.Object({
  access_token: Type.String({ description: 'JWT for `Authorization: Bearer`.' }),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds until the access token expires.' }),
  refresh_token: Type.String({ description: 'Single-use; exchange at /auth/refresh.' }),
  refresh_expires_in: Type.Integer(),
  user: Me,
});

function RemovePicture(kind: string) {
  return Type.Union([Type.Literal(''), Type.Null()], {
    description: `Empty (or JSON null) removes your ${kind}; to set one, send the file as the multipart part \`${kind}\`.`,
  });
}

export const UpdateMeBody = Type.Object(
  {
    display_name: Type.Optional(Type.String({ maxLength: DISPLAY_NAME_MAX * 4 })),
    bio: Type.Optional(Type.String({ maxLength: BIO_MAX * 4 })),
    dm_policy: Type.Optional(DmPolicySchema),
    avatar: Type.Optional(RemovePicture('avatar')),
    header: Type.Optional(RemovePicture('header')),
  },
  { additionalProperties: false },
);

const MailToken = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'The token from the link in the mail.',
});

export const VerifyEmailBody = Type.Object({ token: MailToken }, { additionalProperties: false });
export const VerifyEmailQuery = Type.Object({ token: MailToken });

export const EmailBody = Type.Object(
  { email: Type.String({ format: 'email', maxLength: 254 }) },
  { additionalProperties: false },
);

export const ChangeEmailBody = Type.Object(
  {
    email: Type.String({ format: 'email', maxLength: 254 }),
    password: Type.String({ minLength: 1, maxLength: 1024, description: 'Your current password.' }),
  },
  { additionalProperties: false },
);

export const PasswordResetConfirmBody = Type.Object(
  { token: MailToken, password: Password },
  { additionalProperties: false },
);

export const VerifiedEmail = Type.Object({
  username: Type.String(),
  email: Type.String({ format: 'email' }),
  email_verified: Type.Literal(true),
});

export const MailQueued = Type.Object({
  email: Type.String({ description: 'Where the link is being sent.' }),
});

export const ChangePasswordBody = Type.Object(
  { current_password: Type.String({ minLength: 1, maxLength: 1024 }), new_password: Password },
  { additionalProperties: false },
);

export const UsernameParams = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64, pattern: NO_CONTROLS }),
});

export const SearchUsersQuery = Type.Object({
  q: Type.String({
    maxLength: 30,
    pattern: NO_CONTROLS,
    default: '',
    description: 'Username prefix (case-insensitive).',
  }),
  ...PageQuery,
});

export function presentSummary(u: Pick<UserRow, 'id' | 'username' | 'display_name'>) {
  return { id: u.id, username: u.username, display_name: u.display_name };
}

/** `origin`: where kith's default pictures are served (the public URL). */
export function presentUser(u: UserRow, origin: string) {
  const pictures = picturesOf(u, origin);
  return {
    ...presentSummary(u),
    bio: u.bio,
    created_at: u.created_at.toISOString(),
    post_count: u.post_count,
    follower_count: u.follower_count,
    following_count: u.following_count,
    friend_count: u.friend_count,
    avatar_url: pictures.avatar,
    header_url: pictures.header,
  };
}

export function presentMe(u: UserRow, origin: string) {
  return {
    ...presentUser(u, origin),
    email: u.email,
    email_verified: u.email_verified_at !== null,
    dob: u.dob,
    dm_policy: u.dm_policy,
    updated_at: u.updated_at.toISOString(),
  };
}
