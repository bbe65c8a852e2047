import type { Kysely } from 'kysely';
import type { DomainEvent } from '../../infra/bus/bus.ts';
import type { DB, EmailTokenPurpose } from '../../infra/db/schema.ts';
import type { Mailer } from '../../infra/mail/mailer.ts';
import type { Logger } from '../../logger.ts';
import { EmailTokensRepository } from '../accounts/email-tokens.repository.ts';
import type { EmailTokenSigner } from '../accounts/email-tokens.service.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { defineConsumer, type Consumer } from '../../events/consumer.ts';
import { MailRepository } from './mail.repository.ts';
import { resetMail, verifyMail, welcomeMail, type Rendered } from './templates.ts';

export interface MailLinks {
  /** Where users reach the API (PUBLIC_URL). */
  publicUrl: string;
  /** The app in front of kith (APP_URL), which has a /reset-password page. */
  appUrl: string | undefined;
}

/**
 * The mail consumer: one mail per event, sent once. A mail whose event is already recorded in
 * `mail_deliveries` is not sent again; a failed send throws, so the bus retries it with back-off
 * and dead-letters it after CONSUMER_MAX_ATTEMPTS. (Only a crash between the server accepting a
 * mail and the record being written can repeat it; its Message-ID is then the same.)
 */
export function mailConsumer(
  db: Kysely<DB>,
  mailer: Mailer,
  signer: EmailTokenSigner,
  links: MailLinks,
  log: Logger,
): Consumer {
  // Joined, not resolved: a base with a path (https://example.org/kith) keeps it.
  const under = (base: string, path: string) => `${base.replace(/\/+$/, '')}${path}`;
  const api = (path: string) => under(links.publicUrl, `/api/v1${path}`);

  const verifyUrl = (token: string) => `${api('/auth/verify-email')}?token=${token}`;
  const mails = new MailRepository(db);

  /** Sends the mail of one event once, if its account and link still stand. */
  async function deliver(
    event: DomainEvent,
    link: { userId: string; tokenId: string; purpose: EmailTokenPurpose },
    render: (name: string, email: string, token: string) => Rendered,
  ): Promise<void> {
    if (await mails.wasSent(event.id)) return;
    const [user, token] = await Promise.all([
      new UsersRepository(db).findById(link.userId),
      new EmailTokensRepository(db).find(link.tokenId, link.purpose),
    ]);
    if (!user || !token || token.used_at || token.expires_at.getTime() <= Date.now()) {
      log.info({ event_id: event.id, type: event.type }, 'mail not sent: account or link gone');
      return;
    }
    const message = render(user.display_name, token.email, signer.sign(token.id, link.purpose));
    await mailer.send({ to: token.email, ...message, messageId: `<${event.id}@kith.mail>` });
    await mails.recordSent(event.id, event.type, token.email);
  }

  return defineConsumer('mail', {
    'user.registered': (d, event) =>
      deliver(
        event,
        { userId: d.user_id, tokenId: d.verification_token_id, purpose: 'verify_email' },
        (name, _email, token) => welcomeMail(name, verifyUrl(token)),
      ),
    'email.verification_requested': (d, event) =>
      deliver(
        event,
        { userId: d.user_id, tokenId: d.token_id, purpose: 'verify_email' },
        (name, email, token) => verifyMail(name, email, verifyUrl(token)),
      ),
    'password_reset.requested': (d, event) =>
      deliver(
        event,
        { userId: d.user_id, tokenId: d.token_id, purpose: 'reset_password' },
        (name, _email, token) =>
          resetMail(name, {
            url: links.appUrl
              ? `${under(links.appUrl, '/reset-password')}?token=${token}`
              : undefined,
            token,
            confirmEndpoint: api('/auth/password-reset/confirm'),
          }),
      ),
  });
}
