import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import type { Context } from '../../app/context.ts';
import { clientIp, createLimiter } from '../../http/rate-limit.ts';
import { publicOrigin } from '../../http/public-origin.ts';
import type { App } from '../../http/types.ts';
import { acceptFormBodies } from './form-body.ts';
import { invalidClient, invalidRequest, OAuthError, useOAuthErrors } from './oauth-errors.ts';
import { RevokeBody, TokenBody } from './oauth.schemas.ts';
import { SUPPORTED_SCOPES } from './scopes.ts';

const tags = ['oauth'];

/**
 * The client's credentials: HTTP Basic (RFC 6749 §2.3.1, each part form-encoded) or the
 * body. A Bearer header is ignored (megalodon sends its token even here).
 */
function clientCredentials(
  request: FastifyRequest,
  body: { client_id?: string | undefined; client_secret?: string | undefined },
) {
  const header = request.headers.authorization;
  const basic = header && /^Basic +([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidClient();
    try {
      return {
        id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
        secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
      };
    } catch {
      throw invalidClient();
    }
  }
  if (!body.client_id || !body.client_secret) throw invalidClient();
  return { id: body.client_id, secret: body.client_secret };
}

/** The token endpoint, revocation and the RFC 8414 metadata. */
export function tokenRoutes(ctx: Context) {
  const { config } = ctx;
  return async (app: App) => {
    const fastify = app as unknown as FastifyInstance;
    acceptFormBodies(fastify);
    useOAuthErrors(fastify, 'oauth');
    // Revocations made on other API nodes reach this one's memory of valid tokens.
    const revocations = await ctx.oauthTokens.listen();
    fastify.addHook('onClose', () => revocations.stop());
    // The password grant is a login: it spends the budgets /auth/login spends (same rules).
    const perIp = createLimiter(fastify, {
      name: 'auth-ip',
      max: config.authRateLimitIp,
      windowSeconds: config.authRateLimitWindow,
      key: clientIp,
    });
    const loginSubjects = new WeakMap<FastifyRequest, string>();
    const perAccount = createLimiter(fastify, {
      name: 'login-account',
      max: config.authRateLimitAccount,
      windowSeconds: config.authRateLimitWindow,
      key: (request) => loginSubjects.get(request) ?? '',
    });

    const passwordGrant = async (
      request: FastifyRequest,
      reply: FastifyReply,
      body: Static<typeof TokenBody>,
    ) => {
      if (!config.oauthPasswordGrant)
        throw new OAuthError(400, 'unsupported_grant_type', 'The password grant is turned off.');
      if (!body.username || !body.password)
        throw invalidRequest('The password grant needs username and password.');
      await perIp(request, reply);
      loginSubjects.set(request, await ctx.auth.loginSubject(body.username));
      await perAccount(request, reply);
      try {
        return await ctx.auth.verifyCredentials(body.username, body.password);
      } catch {
        throw new OAuthError(400, 'invalid_grant', 'The login or password is not correct.');
      }
    };

    app.post(
      '/oauth/token',
      { schema: { tags, summary: 'Obtain an OAuth access token', body: TokenBody, hide: true } },
      async (request, reply) => {
        const body = request.body;
        void reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
        const client = clientCredentials(request, body);
        const application = await ctx.oauth.authenticateClient(client.id, client.secret);
        switch (body.grant_type) {
          case 'authorization_code':
            return ctx.oauth.exchangeCode(application, body);
          case 'client_credentials':
            return ctx.oauth.clientCredentials(application, body.scope);
          case 'password': {
            const user = await passwordGrant(request, reply, body);
            return ctx.oauth.passwordGrant(application, user.id, body.scope);
          }
          default:
            throw new OAuthError(
              400,
              'unsupported_grant_type',
              `The grant_type "${body.grant_type}" is not supported.`,
            );
        }
      },
    );

    app.post(
      '/oauth/revoke',
      {
        schema: {
          tags,
          summary: 'Revoke an access token (RFC 7009)',
          body: RevokeBody,
          hide: true,
        },
      },
      async (request) => {
        const client = clientCredentials(request, request.body);
        const application = await ctx.oauth.authenticateClient(client.id, client.secret);
        await ctx.oauth.revoke(application, request.body.token);
        return {};
      },
    );

    app.get(
      '/.well-known/oauth-authorization-server',
      { schema: { tags, summary: 'OAuth 2 server metadata (RFC 8414)', hide: true } },
      async (request) => {
        const origin = publicOrigin(config, request);
        return {
          issuer: origin,
          service_documentation: 'https://docs.joinmastodon.org/',
          authorization_endpoint: `${origin}/oauth/authorize`,
          token_endpoint: `${origin}/oauth/token`,
          revocation_endpoint: `${origin}/oauth/revoke`,
          app_registration_endpoint: `${origin}/api/v1/apps`,
          scopes_supported: SUPPORTED_SCOPES,
          response_types_supported: ['code'],
          response_modes_supported: ['query'],
          grant_types_supported: [
            'authorization_code',
            'client_credentials',
            ...(config.oauthPasswordGrant ? ['password'] : []),
          ],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        };
      },
    );
  };
}
