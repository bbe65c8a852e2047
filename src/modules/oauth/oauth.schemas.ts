import { Type } from 'typebox';
import type { OAuthAppRow } from '../../infra/db/schema.ts';

const Text = (maxLength: number) => Type.String({ maxLength });

/** `POST /api/v1/apps`: JSON or form, `redirect_uris` as text (space/newline) or a list. */
export const AppBody = Type.Object({
  client_name: Text(200),
  redirect_uris: Type.Union([Text(4000), Type.Array(Text(2000), { maxItems: 20 })]),
  scopes: Type.Optional(Text(2000)),
  website: Type.Optional(Type.Union([Text(2000), Type.Null()])),
});

/** `POST /oauth/token`, JSON or form; client credentials here or in HTTP Basic. */
export const TokenBody = Type.Object({
  grant_type: Text(100),
  client_id: Type.Optional(Text(200)),
  client_secret: Type.Optional(Text(200)),
  code: Type.Optional(Text(200)),
  redirect_uri: Type.Optional(Text(2000)),
  code_verifier: Type.Optional(Text(200)),
  scope: Type.Optional(Text(2000)),
  username: Type.Optional(Text(320)),
  password: Type.Optional(Text(1000)),
});

/** `POST /oauth/revoke` (RFC 7009). */
export const RevokeBody = Type.Object({
  token: Text(200),
  client_id: Type.Optional(Text(200)),
  client_secret: Type.Optional(Text(200)),
  token_type_hint: Type.Optional(Text(100)),
});

/** Mastodon's Application entity (without the client credentials). */
export function presentApp(app: OAuthAppRow) {
  const redirectUris = app.redirect_uris.split('\n');
  return {
    id: app.id,
    name: app.name,
    website: app.website,
    scopes: app.scopes.split(' '),
    // Deprecated in Mastodon but still what megalodon reads.
    redirect_uri: redirectUris.join('\n'),
    redirect_uris: redirectUris,
    vapid_key: '',
  };
}

/** CredentialApplication: what registration answers, the only time the secret is shown. */
export function presentCredentialApp(app: OAuthAppRow, clientSecret: string) {
  return {
    ...presentApp(app),
    client_id: app.client_id,
    client_secret: clientSecret,
    client_secret_expires_at: 0,
  };
}
