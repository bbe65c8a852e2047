import type { FastifyInstance } from 'fastify';
import type { Context } from '../../app/context.ts';
import { UnauthorizedError } from '../../errors.ts';
import { principalOf } from '../../http/auth.ts';
import { clientIp, createLimiter } from '../../http/rate-limit.ts';
import type { App } from '../../http/types.ts';
import { acceptFormBodies } from './form-body.ts';
import { useOAuthErrors } from './oauth-errors.ts';
import { AppBody, presentApp, presentCredentialApp } from './oauth.schemas.ts';

const tags = ['oauth'];

/** Mastodon app registration: `POST /api/v1/apps`, `GET /api/v1/apps/verify_credentials`. */
export function appsRoutes(ctx: Context) {
  return async (app: App) => {
    const fastify = app as unknown as FastifyInstance;
    acceptFormBodies(fastify);
    useOAuthErrors(fastify, 'mastodon');
    const perIp = createLimiter(fastify, {
      name: 'oauth-apps-ip',
      max: ctx.config.authRateLimitIp,
      windowSeconds: ctx.config.authRateLimitWindow,
      key: clientIp,
    });

    app.post(
      '/api/v1/apps',
      {
        onRequest: perIp,
        schema: {
          tags,
          summary: 'Register a Mastodon client application',
          body: AppBody,
          hide: true,
        },
      },
      async (request) => {
        const { app: registered, clientSecret } = await ctx.oauth.registerApp(request.body);
        return presentCredentialApp(registered, clientSecret);
      },
    );

    app.get(
      '/api/v1/apps/verify_credentials',
      {
        // Any token of the app, user or application token, whatever its scopes.
        config: { auth: 'required', appToken: true, scope: '' },
        schema: { tags, summary: 'The application the token was issued to', hide: true },
      },
      async (request) => {
        const { appId } = principalOf(request);
        const registered = appId ? await ctx.oauth.appById(appId) : undefined;
        if (!registered)
          throw new UnauthorizedError('invalid_token', 'The access token is invalid.');
        return presentApp(registered);
      },
    );
  };
}
