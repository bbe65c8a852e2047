import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import { AppError } from '../../errors.ts';
import { clientIp, createLimiter } from '../../http/rate-limit.ts';
import type { App } from '../../http/types.ts';
import { codePage, consentPage, loginPage, messagePage } from './authorize.page.ts';
import { BrowserSessions } from './browser-session.ts';
import { acceptFormBodies } from './form-body.ts';
import { OOB_REDIRECT, type AuthorizationRequest } from './oauth.service.ts';

const Param = Type.Optional(Type.String({ maxLength: 2000 }));
const AuthorizeParams = {
  client_id: Param,
  redirect_uri: Param,
  response_type: Param,
  scope: Param,
  state: Param,
  code_challenge: Param,
  code_challenge_method: Param,
};
const AuthorizeQuery = Type.Object({
  ...AuthorizeParams,
  force_login: Param,
  lang: Param,
});
const AuthorizeForm = Type.Object({
  ...AuthorizeParams,
  csrf_token: Param,
  login: Param,
  password: Param,
  decision: Param,
});

/**
 * The page a browser shows: no opener isolation (Phanpy opens it in a popup and watches it),
 * no framing, nothing cached, and a CSP without `form-action` (Chrome would apply it to the
 * redirect that follows the form, glitch-soc/mastodon#1952).
 */
function sendHtml(reply: FastifyReply, status: number, html: string) {
  return reply
    .status(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('cross-origin-opener-policy', 'unsafe-none')
    .header('x-frame-options', 'DENY')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
    )
    .send(html);
}

/** Where the browser goes after a decision (the code page for `oob`). */
function redirectWith(request: AuthorizationRequest, params: Record<string, string>): string {
  const url = new URL(request.redirectUri);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  if (request.state !== undefined) url.searchParams.set('state', request.state);
  return url.toString();
}

/** `/oauth/authorize`: sign in (kith's login rules) and consent, server-rendered. */
export function authorizeRoutes(ctx: Context) {
  const { config } = ctx;
  const sessions = new BrowserSessions(`oauth-browser:${config.jwtSecret}`);
  return async (app: App) => {
    const fastify = app as unknown as FastifyInstance;
    acceptFormBodies(fastify);
    fastify.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
      if (err instanceof AppError) {
        for (const [name, value] of Object.entries(err.headers ?? {}))
          void reply.header(name, value);
        return sendHtml(reply, err.status, messagePage('Cannot continue', err.message));
      }
      const status =
        typeof err.statusCode === 'number' && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) request.log.error({ err }, 'authorize page failed');
      const message = status === 500 ? 'Something went wrong.' : 'The request is not valid.';
      return sendHtml(reply, status, messagePage('Cannot continue', message));
    });
    // Sign-ins here spend the budgets /auth/login spends.
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

    const consent = async (
      request: FastifyRequest,
      reply: FastifyReply,
      authorization: AuthorizationRequest,
      userId: string,
    ) => {
      const user = await ctx.users.getById(userId);
      const csrf = sessions.csrfToken(request, reply);
      return sendHtml(reply, 200, consentPage(authorization, csrf, user.username));
    };

    app.get(
      '/oauth/authorize',
      { schema: { hide: true, querystring: AuthorizeQuery } },
      async (request, reply) => {
        const authorization = await ctx.oauth.checkAuthorization(request.query);
        const forceLogin = ['true', '1'].includes(request.query.force_login ?? '');
        const userId = forceLogin ? undefined : sessions.userOf(request);
        if (userId) return consent(request, reply, authorization, userId);
        return sendHtml(reply, 200, loginPage(authorization, sessions.csrfToken(request, reply)));
      },
    );

    app.post(
      '/oauth/authorize',
      { schema: { hide: true, body: AuthorizeForm } },
      async (request, reply) => {
        const form = request.body;
        if (!sessions.csrfValid(request, form.csrf_token)) {
          const message =
            'The form has expired or did not come from this site; start again from the app.';
          return sendHtml(reply, 403, messagePage('Cannot continue', message));
        }
        const authorization = await ctx.oauth.checkAuthorization(form);
        if (form.login !== undefined) {
          await perIp(request, reply);
          loginSubjects.set(request, await ctx.auth.loginSubject(form.login));
          await perAccount(request, reply);
          const user = await ctx.auth
            .verifyCredentials(form.login, form.password ?? '')
            .catch(() => undefined);
          const csrf = sessions.csrfToken(request, reply);
          if (!user)
            return sendHtml(
              reply,
              401,
              loginPage(authorization, csrf, 'The login or password is not correct.'),
            );
          sessions.signIn(request, reply, user.id);
          return sendHtml(reply, 200, consentPage(authorization, csrf, user.username));
        }
        const userId = sessions.userOf(request);
        if (!userId) {
          const csrf = sessions.csrfToken(request, reply);
          return sendHtml(reply, 401, loginPage(authorization, csrf, 'Please sign in again.'));
        }
        if (form.decision === 'authorize') {
          const code = await ctx.oauth.issueCode(authorization, userId);
          if (authorization.redirectUri === OOB_REDIRECT)
            return sendHtml(reply, 200, codePage(code));
          return reply
            .header('cache-control', 'no-store')
            .redirect(redirectWith(authorization, { code }), 302);
        }
        if (form.decision === 'deny') {
          if (authorization.redirectUri === OOB_REDIRECT)
            return sendHtml(
              reply,
              200,
              messagePage('Access denied', 'You denied the application access.'),
            );
          const denied = { error: 'access_denied', error_description: 'The user denied access.' };
          return reply
            .header('cache-control', 'no-store')
            .redirect(redirectWith(authorization, denied), 302);
        }
        return sendHtml(reply, 400, messagePage('Cannot continue', 'Choose Authorize or Deny.'));
      },
    );
  };
}
