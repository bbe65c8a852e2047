import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { Context } from '../../context.ts';
import type { App } from '../../http/app.ts';
import {
  LoginBody,
  Me,
  presentMe,
  RefreshBody,
  RegisterBody,
  SessionResponse,
} from './accounts.schemas.ts';
import type { Session } from './auth.service.ts';

const tags = ['auth'];

function presentSession(s: Session) {
  return { ...s.tokens, user: presentMe(s.user) };
}

/** Registration and login sessions: `/auth/*`. */
export function authRoutes(ctx: Context) {
  const { config } = ctx;
  const window = config.authRateLimitWindow * 1000;
  const perIp = {
    rateLimit: { max: config.authRateLimitIp, timeWindow: window, groupId: 'auth-ip' },
  };

  return async (app: App) => {
    // Per account as well as per IP, so spreading guesses over many addresses does not help.
    const perAccount = app.rateLimit({
      max: config.authRateLimitAccount,
      timeWindow: window,
      keyGenerator: (request: FastifyRequest) =>
        `login:${String((request.body as { login?: unknown } | undefined)?.login ?? '')
          .trim()
          .toLowerCase()}`,
    });

    app.post(
      '/auth/register',
      {
        config: perIp,
        schema: { tags, summary: 'Create an account', body: RegisterBody, response: { 201: Me } },
      },
      async (request, reply) => {
        const user = await ctx.users.register(request.body);
        return reply
          .status(201)
          .header('location', `/api/v1/users/${user.username}`)
          .send(presentMe(user));
      },
    );

    app.post(
      '/auth/login',
      {
        config: perIp,
        preHandler: perAccount,
        schema: {
          tags,
          summary: 'Log in with username or e-mail',
          description: 'Returns a 15-minute access token and a single-use refresh token.',
          body: LoginBody,
          response: { 200: SessionResponse },
        },
      },
      async (request) =>
        presentSession(await ctx.auth.login(request.body.login, request.body.password)),
    );

    app.post(
      '/auth/refresh',
      {
        config: perIp,
        schema: {
          tags,
          summary: 'Exchange a refresh token for a new token pair',
          description:
            'The presented token is spent. Presenting a spent token ends the whole session.',
          body: RefreshBody,
          response: { 200: SessionResponse },
        },
      },
      async (request) => presentSession(await ctx.auth.refresh(request.body.refresh_token)),
    );

    app.post(
      '/auth/logout',
      {
        schema: {
          tags,
          summary: 'End the session the refresh token belongs to',
          body: RefreshBody,
          response: { 204: Type.Null({ description: 'Logged out' }) },
        },
      },
      async (request, reply) => {
        await ctx.auth.logout(request.body.refresh_token);
        return reply.status(204).send(null);
      },
    );
  };
}
