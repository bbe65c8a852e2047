import { createHash, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { AppError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { DB } from '../../infra/db/database.ts';
import type { OAuthAppRow } from '../../infra/db/schema.ts';
import { OAuthRepository } from './oauth.repository.ts';
import { hashSecret, newSecret, type OAuthTokens } from './oauth-tokens.ts';
import { invalidClient, invalidGrant, invalidRequest, invalidScope } from './oauth-errors.ts';
import { parseScopes, unknownScopes, withinScopes } from './scopes.ts';

/** The redirect URI that asks the server to show the code instead of redirecting. */
export const OOB_REDIRECT = 'urn:ietf:wg:oauth:2.0:oob';
/** Authorization codes are single-use and live this long (RFC 6749 §4.1.2: at most 10 min). */
const CODE_TTL_MS = 10 * 60_000;
const UNSAFE_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:']);

export interface NewApp {
  client_name: string;
  redirect_uris?: string | string[];
  scopes?: string;
  website?: string | null;
}

/** What an authorization code is bound to, and what the consent page shows. */
export interface AuthorizationRequest {
  app: OAuthAppRow;
  redirectUri: string;
  scopes: string[];
  state?: string;
  codeChallenge?: string;
  codeChallengeMethod?: 'S256' | 'plain';
}

export interface IssuedToken {
  access_token: string;
  token_type: 'Bearer';
  scope: string;
  created_at: number;
}

const validationFailed = (message: string) => new AppError(422, 'validation_failed', message);

const sameSecret = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** The redirect URIs of a registration (newline- or space-separated text, or a list). */
function parseRedirectUris(raw: string | string[] | undefined): string[] {
  const list = (Array.isArray(raw) ? raw : [raw ?? '']).flatMap((s) => s.split(/\s+/));
  const uris = [...new Set(list.filter(Boolean))];
  if (uris.length === 0) throw validationFailed("Redirect URI can't be blank");
  for (const uri of uris) {
    if (uri === OOB_REDIRECT) continue;
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw validationFailed('Redirect URI must be an absolute URI.');
    }
    if (url.hash || UNSAFE_SCHEMES.has(url.protocol))
      throw validationFailed('Redirect URI must be an absolute URI without a fragment.');
  }
  return uris;
}

/**
 * OAuth 2 as Mastodon clients use it: applications, authorization codes (PKCE S256 and
 * plain), client credentials and the password grant, tokens and their revocation.
 */
export class OAuthService {
  readonly #repo: OAuthRepository;
  readonly #tokens: OAuthTokens;

  constructor(db: Kysely<DB>, tokens: OAuthTokens) {
    this.#repo = new OAuthRepository(db);
    this.#tokens = tokens;
  }

  async registerApp(input: NewApp): Promise<{ app: OAuthAppRow; clientSecret: string }> {
    const name = input.client_name.trim();
    if (name === '' || name.length > 200)
      throw validationFailed('Application name must be 1 to 200 characters.');
    const redirectUris = parseRedirectUris(input.redirect_uris);
    const scopes = parseScopes(input.scopes);
    const unknown = unknownScopes(scopes);
    if (unknown.length > 0) throw validationFailed(`Scopes are not known: ${unknown.join(' ')}`);
    const clientSecret = newSecret();
    const app = await this.#repo.insertApp({
      id: newId(),
      name,
      website: input.website?.trim() || null,
      redirect_uris: redirectUris.join('\n'),
      scopes: scopes.join(' '),
      client_id: newSecret(),
      client_secret_hash: hashSecret(clientSecret),
    });
    return { app, clientSecret };
  }

  appById(id: string): Promise<OAuthAppRow | undefined> {
    return this.#repo.findAppById(id);
  }

  /** The app, when the secret is its own; else 401 `invalid_client`. */
  async authenticateClient(clientId: string, clientSecret: string): Promise<OAuthAppRow> {
    const app = await this.#repo.findAppByClientId(clientId);
    if (!app || !sameSecret(app.client_secret_hash, hashSecret(clientSecret)))
      throw invalidClient();
    return app;
  }

  /**
   * Checks an authorization request before anything is shown. Errors here are never
   * redirected: a wrong client or redirect URI must not turn kith into an open redirector.
   */
  async checkAuthorization(params: {
    client_id?: string;
    redirect_uri?: string;
    response_type?: string;
    scope?: string;
    state?: string;
    code_challenge?: string;
    code_challenge_method?: string;
  }): Promise<AuthorizationRequest> {
    const app = params.client_id ? await this.#repo.findAppByClientId(params.client_id) : undefined;
    if (!app) throw invalidRequest('The client_id is not a registered application.');
    const registered = app.redirect_uris.split('\n');
    const redirectUri =
      params.redirect_uri ?? (registered.length === 1 ? registered[0] : undefined);
    if (!redirectUri || !registered.includes(redirectUri))
      throw invalidRequest('The redirect_uri is not one the application registered.');
    if (params.response_type !== 'code')
      throw new AppError(400, 'unsupported_response_type', 'Only response_type=code is supported.');
    const scopes = this.#grantableScopes(app, params.scope);
    const method = params.code_challenge_method ?? (params.code_challenge ? 'plain' : undefined);
    if (method !== undefined && method !== 'S256' && method !== 'plain')
      throw invalidRequest('code_challenge_method must be S256 or plain.');
    if (method && !/^[A-Za-z0-9._~-]{43,128}$/.test(params.code_challenge ?? ''))
      throw invalidRequest('code_challenge must be 43 to 128 unreserved characters.');
    return {
      app,
      redirectUri,
      scopes,
      ...(params.state === undefined ? {} : { state: params.state }),
      ...(method ? { codeChallenge: params.code_challenge!, codeChallengeMethod: method } : {}),
    };
  }

  /** A single-use code for the user's consent to `request`. */
  async issueCode(request: AuthorizationRequest, userId: string): Promise<string> {
    const code = newSecret();
    await this.#repo.insertCode({
      code_hash: hashSecret(code),
      app_id: request.app.id,
      user_id: userId,
      redirect_uri: request.redirectUri,
      scopes: request.scopes.join(' '),
      code_challenge: request.codeChallenge ?? null,
      code_challenge_method: request.codeChallengeMethod ?? null,
      expires_at: new Date(Date.now() + CODE_TTL_MS),
    });
    return code;
  }

  /** The authorization_code grant: the code is spent whatever the outcome. */
  async exchangeCode(
    app: OAuthAppRow,
    input: { code?: string; redirect_uri?: string; code_verifier?: string },
  ): Promise<IssuedToken> {
    if (!input.code) throw invalidRequest('The code is missing.');
    const row = await this.#repo.takeCode(hashSecret(input.code));
    if (!row || row.app_id !== app.id || row.expires_at.getTime() <= Date.now())
      throw invalidGrant('The authorization code is invalid, expired or already used.');
    if (input.redirect_uri !== undefined && input.redirect_uri !== row.redirect_uri)
      throw invalidGrant('The redirect_uri does not match the authorization request.');
    if (row.code_challenge !== null) {
      const verifier = input.code_verifier ?? '';
      const expected =
        row.code_challenge_method === 'S256'
          ? createHash('sha256').update(verifier).digest('base64url')
          : verifier;
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || !sameSecret(expected, row.code_challenge))
        throw invalidGrant('The code_verifier does not match the code_challenge.');
    }
    return this.#issueToken(app.id, row.user_id, row.scopes.split(' '));
  }

  /** The client_credentials grant: a token for the application itself, no user. */
  clientCredentials(app: OAuthAppRow, scope: string | undefined): Promise<IssuedToken> {
    return this.#issueToken(app.id, null, this.#grantableScopes(app, scope));
  }

  /** The password grant (only when OAUTH_PASSWORD_GRANT is on); the user is already checked. */
  passwordGrant(app: OAuthAppRow, userId: string, scope: string | undefined) {
    return this.#issueToken(app.id, userId, this.#grantableScopes(app, scope));
  }

  /**
   * RFC 7009: revokes the app's own token at once on every node. An unknown token is not an
   * error; someone else's is (403 `unauthorized_client`, as Mastodon answers).
   */
  async revoke(app: OAuthAppRow, token: string): Promise<void> {
    const hash = hashSecret(token);
    const row = await this.#repo.findToken(hash);
    if (!row) return;
    if (row.app_id !== app.id)
      throw new AppError(
        403,
        'unauthorized_client',
        'You are not authorized to revoke this token.',
      );
    await this.#repo.revokeToken(hash, app.id);
    await this.#tokens.forget(hash);
  }

  purgeExpiredCodes(): Promise<void> {
    return this.#repo.purgeExpiredCodes(new Date());
  }

  #grantableScopes(app: OAuthAppRow, scope: string | undefined): string[] {
    const requested = parseScopes(scope);
    const unknown = unknownScopes(requested);
    if (unknown.length > 0) throw invalidScope(`Scopes are not known: ${unknown.join(' ')}`);
    if (!withinScopes(requested, app.scopes.split(' ')))
      throw invalidScope('The requested scopes exceed those the application registered.');
    return requested;
  }

  async #issueToken(appId: string, userId: string | null, scopes: string[]): Promise<IssuedToken> {
    const token = newSecret();
    const createdAt = new Date();
    await this.#repo.insertToken({
      id: newId(),
      token_hash: hashSecret(token),
      app_id: appId,
      user_id: userId,
      scopes: scopes.join(' '),
      created_at: createdAt,
    });
    return {
      access_token: token,
      token_type: 'Bearer',
      scope: scopes.join(' '),
      created_at: Math.floor(createdAt.getTime() / 1000),
    };
  }
}
