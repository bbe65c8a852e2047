import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Context } from '../../app/context.ts';
import type { UserRow } from '../../infra/db/schema.ts';
import type { App } from '../../http/types.ts';
import { principalOf } from '../../http/auth.ts';
import { clientIp, createLimiter } from '../../http/rate-limit.ts';
import {
  ChangeEmailBody,
  EmailBody,
  MailQueued,
  PasswordResetConfirmBody,
  VerifiedEmail,
  VerifyEmailBody,
  VerifyEmailQuery,
} from './accounts.schemas.ts';

const tags = ['auth'];
const LINK_ERRORS =
  '400 `link_invalid` (tampered or unknown), `link_expired` or `link_used`; 409 `email_taken` if the address was taken meanwhile.';

/** Address verification, change of address and password reset. */
export function emailRoutes(ctx: Context) {
  const { config, email } = ctx;
  return async (app: App) => {
    const fastify = app as unknown as FastifyInstance;
    const perIp = createLimiter(fastify, {
      name: 'mail-ip',
      max: config.authRateLimitIp,
      windowSeconds: config.authRateLimitWindow,
      key: clientIp,
    });
    // Mails asked for, per account (or per address for password resets): nobody can use kith to
    // flood a mailbox.
    const perMailbox = createLimiter(fastify, {
      name: 'mail-box',
      max: config.mailRateLimit,
      windowSeconds: config.mailRateLimitWindow,
      key: (request) => {
        const address = (request.body as { email?: unknown } | undefined)?.email;
        return (
          request.principal?.userId ??
          (typeof address === 'string' ? address.trim().toLowerCase() : '')
        );
      },
    });

    const verify = { 200: VerifiedEmail };
    const verified = (u: UserRow) => ({
      username: u.username,
      email: u.email,
      email_verified: true as const,
    });
    app.post(
      '/auth/verify-email',
      {
        onRequest: perIp,
        schema: {
          tags,
          summary: 'Confirm an e-mail address',
          description: `With the token from the mailed link. ${LINK_ERRORS}`,
          body: VerifyEmailBody,
          response: verify,
        },
      },
      async (request) => verified(await email.verify(request.body.token)),
    );
    app.get(
      '/auth/verify-email',
      {
        onRequest: perIp,
        schema: {
          tags,
          summary: 'Confirm an e-mail address (the mailed link)',
          description: `The link in the mail points here. ${LINK_ERRORS}`,
          querystring: VerifyEmailQuery,
          response: verify,
        },
      },
      async (request) => verified(await email.verify(request.query.token)),
    );

    app.post(
      '/auth/verify-email/resend',
      {
        config: { auth: 'required' },
        preHandler: perMailbox,
        schema: {
          tags,
          summary: 'Mail a new verification link',
          description: `409 \`already_verified\`. At most RATE_LIMIT_MAIL per RATE_LIMIT_MAIL_WINDOW.`,
          response: { 202: MailQueued },
        },
      },
      async (request, reply) =>
        reply.status(202).send(await email.resend(principalOf(request).userId)),
    );

    app.post(
      '/me/email',
      {
        config: { auth: 'required' },
        preHandler: perMailbox,
        schema: {
          tags: ['users'],
          summary: 'Change your e-mail address',
          description:
            'Mails a link to the new address; it replaces the current one once the link is used. 403 `wrong_password`, 409 `email_taken` / `same_email`.',
          body: ChangeEmailBody,
          response: { 202: MailQueued },
        },
      },
      async (request, reply) => {
        const { email: address, password } = request.body;
        return reply
          .status(202)
          .send(await email.changeEmail(principalOf(request).userId, address, password));
      },
    );

    app.post(
      '/auth/password-reset',
      {
        onRequest: perIp,
        preHandler: perMailbox,
        schema: {
          tags,
          summary: 'Ask for a password-reset mail',
          description:
            'Always 202, whether or not an account has this address (no account enumeration). The link works once, for one hour.',
          body: EmailBody,
          response: { 202: MailQueued },
        },
      },
      async (request, reply) => {
        await email.requestPasswordReset(request.body.email);
        return reply.status(202).send({ email: request.body.email });
      },
    );

    app.post(
      '/auth/password-reset/confirm',
      {
        onRequest: perIp,
        schema: {
          tags,
          summary: 'Set a new password with a reset token',
          description: `Ends every session of the account. 400 \`link_invalid\`, \`link_expired\` or \`link_used\`.`,
          body: PasswordResetConfirmBody,
          response: { 204: Type.Null({ description: 'Password changed' }) },
        },
      },
      async (request, reply) => {
        await email.confirmPasswordReset(request.body.token, request.body.password);
        return reply.status(204).send(null);
      },
    );
  };
}
