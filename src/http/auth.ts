import type { FastifyInstance, FastifyRequest } from 'fastify';
import { UnauthorizedError } from '../errors.ts';

/** Who a verified access token speaks for: the user and the login session (token family). */
export interface Principal {
  userId: string;
  sessionId: string;
  /** When the token expires, in ms since the epoch (streams close then). */
  expiresAt?: number;
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
  onAuthenticated: (userId: string) => Promise<void>,
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
      await onAuthenticated(request.principal.userId);
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
