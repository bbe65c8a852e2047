import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ForbiddenError, UnauthorizedError } from '../errors.ts';

/** Who a verified access token speaks for: the user and the login session (token family). */
export interface Principal {
  userId: string;
  sessionId: string;
  /** When the token expires, in ms since the epoch (streams close then). */
  expiresAt?: number;
  /** When the token was issued, in ms since the epoch (to refuse tokens from ended sessions). */
  issuedAt?: number;
  /**
   * OAuth scopes the token was granted (`read`, `write:statuses`, …). Absent for kith's own
   * login tokens, which may do everything their user may.
   */
  scopes?: readonly string[];
  /** The OAuth application the token was issued to (OAuth tokens only). */
  appId?: string;
  /**
   * An application token (OAuth client_credentials): it speaks for no user (`userId` is '')
   * and only routes declared with `appToken: true` accept it.
   */
  appOnly?: boolean;
}

/** Scopes that `follow` (Mastodon's legacy scope) grants. */
const FOLLOW_SCOPES = new Set([
  'read:follows',
  'write:follows',
  'read:blocks',
  'write:blocks',
  'read:mutes',
  'write:mutes',
]);

/**
 * Whether the caller may use `scope`: a granted scope covers itself and its children
 * (`read` covers `read:statuses`, `admin:read` covers `admin:read:accounts`); `follow` covers
 * the follow, block and mute scopes. kith's own tokens (no `scopes`) cover everything.
 */
export function hasScope(principal: Principal, scope: string): boolean {
  if (!principal.scopes) return true;
  return principal.scopes.some(
    (granted) =>
      granted === scope ||
      scope.startsWith(`${granted}:`) ||
      (granted === 'follow' && FOLLOW_SCOPES.has(scope)),
  );
}

/** What checks a bearer token (the accounts module's access tokens). */
export interface TokenVerifier {
  verify(token: string): Promise<Principal>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, when the route asked for authentication and a valid token was sent. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** `required`: 401 without a valid bearer token. `optional`: anonymous allowed. */
    auth?: 'required' | 'optional';
    /** Also accept the token as `?access_token=` (WebSocket and EventSource cannot set headers). */
    tokenInQuery?: boolean;
    /**
     * The OAuth scope the route needs (`read:statuses`, …); 403 `insufficient_scope` without it.
     * Unset: `read` for GET and HEAD, `write` otherwise. `''`: any token, whatever its scopes.
     */
    scope?: string;
    /** Also accept an application token, which speaks for no user (see Principal.appOnly). */
    appToken?: boolean;
  }
}

function bearerToken(request: FastifyRequest, inQuery: boolean): string | undefined {
  const header = request.headers.authorization;
  if (!header && inQuery) {
    const query = (request.query ?? {}) as { access_token?: unknown };
    return typeof query.access_token === 'string' && query.access_token !== ''
      ? query.access_token
      : undefined;
  }
  if (!header) return undefined;
  const match = /^Bearer +(\S+)\s*$/i.exec(header);
  if (!match)
    throw new UnauthorizedError('invalid_token', 'Authorization must be "Bearer <token>".');
  return match[1];
}

/**
 * Authentication is declared per route (`config: { auth: 'required' }`). This hook adds the token
 * check to those routes and marks them in the OpenAPI document, so no route can forget either.
 */
export function registerAuth(
  app: FastifyInstance,
  tokens: TokenVerifier,
  onAuthenticated: (userId: string, principal: Principal) => Promise<void>,
): void {
  app.decorateRequest('principal', null);
  app.addHook('onRoute', (route) => {
    const mode = route.config?.auth;
    if (!mode) return;
    const check = async (request: FastifyRequest): Promise<void> => {
      const token = bearerToken(request, route.config?.tokenInQuery === true);
      if (token === undefined) {
        if (mode === 'required') throw new UnauthorizedError();
        return;
      }
      request.principal = await tokens.verify(token);
      if (request.principal.appOnly && route.config?.appToken !== true) {
        throw new ForbiddenError(
          'user_token_required',
          'This is an application token; this action needs a token that speaks for a user.',
        );
      }
      // A route that names no scope needs `read` to read and `write` to change anything, so
      // an OAuth token granted `read` only can never write through kith's own routes.
      const scope =
        route.config?.scope ??
        (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write');
      if (scope !== '' && !hasScope(request.principal, scope))
        throw new ForbiddenError('insufficient_scope', `This action needs the "${scope}" scope.`);
      if (!request.principal.appOnly) {
        await onAuthenticated(request.principal.userId, request.principal);
      }
    };
    const existing = route.onRequest ? [route.onRequest].flat() : [];
    route.onRequest = [check, ...existing];
    const security: { [name: string]: string[] }[] =
      mode === 'required' ? [{ bearerAuth: [] }] : [{ bearerAuth: [] }, {}];
    route.schema = { ...route.schema, security };
  });
}

/** The authenticated caller of a route declared with `auth: 'required'`. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthorizedError();
  return request.principal;
}
