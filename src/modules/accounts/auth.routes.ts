import { Type } from 'typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../../app/context.ts';
import type { App } from '../../http/types.ts';
import {
  LoginBody,
  Me,
  presentMe,
  RefreshBody,
  RegisterBody,
  SessionResponse,
} from './accounts.schemas.ts';
import type { Session } from './auth.service.ts';
import { clientIp, createLimiter } from '../../http/rate-limit.ts';
import { normalizeUsernameField } from '../../http/usernames.ts';

const tags = ['auth'];

function presentSession(s: Session, origin: string) {
  return { ...s.tokens, user: presentMe(s.user, origin) };
}

/** Registration and login sessions: `/auth/*`. */
export function authRoutes(ctx: Context) {
  const { config } = ctx;

  return async (app: App) => {
    const fastify = app as unknown as FastifyInstance;
    // One budget per IP shared by every /auth route, and one per account for login, so spreading
    // password guesses over many addresses does not help either. The account is the user the login
    // names, so its username, its e-mail and their look-alike spellings share one budget.
    const perIp = createLimiter(fastify, {
      name: 'auth-ip',
      max: config.authRateLimitIp,
      windowSeconds: config.authRateLimitWindow,
      key: clientIp,
    });
    // Resolved (one query) before the limiter, whose key function cannot wait.
    const loginSubjects = new WeakMap<FastifyRequest, string>();
    const findLoginSubject = async (request: FastifyRequest) => {
      const { login } = request.body as { login: string };
      loginSubjects.set(request, await ctx.auth.loginSubject(login));
    };
    const perAccount = createLimiter(fastify, {
      name: 'login-account',
      max: config.authRateLimitAccount,
      windowSeconds: config.authRateLimitWindow,
      key: (request) => loginSubjects.get(request) ?? '',
    });

    app.post(
      '/auth/register',
      {
        onRequest: perIp,
        preValidation: normalizeUsernameField('username'),
        schema: {
          tags,
          summary: 'Create an account',
          description:
            'The username is normalised (NFKC, lower case) before it is checked, so look-alike spellings (`ＡＬＩＣＥ`) are one name. 409 `username_taken`, `email_taken`.',
          body: RegisterBody,
          response: { 201: Me },
        },
      },
      async (request, reply) => {
        const user = await ctx.users.register(request.body);
        return reply
          .status(201)
          .header('location', `/api/v1/users/${user.username}`)
          .send(presentMe(user, config.publicUrl));
      },
    );

    app.post(
      '/auth/login',
      {
        onRequest: perIp,
        preHandler: [findLoginSubject, perAccount],
        schema: {
          tags,
          summary: 'Log in with username or e-mail',
          description: 'Returns a 15-minute access token and a single-use refresh token.',
          body: LoginBody,
          response: { 200: SessionResponse },
        },
      },
      async (request) =>
        presentSession(
          await ctx.auth.login(request.body.login, request.body.password),
          config.publicUrl,
        ),
    );

    app.post(
      '/auth/refresh',
      {
        onRequest: perIp,
        schema: {
          tags,
          summary: 'Exchange a refresh token for a new token pair',
          description:
            'The presented token is spent. Presenting a spent token ends the whole session.',
          body: RefreshBody,
          response: { 200: SessionResponse },
        },
      },
      async (request) =>
        presentSession(await ctx.auth.refresh(request.body.refresh_token), config.publicUrl),
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
