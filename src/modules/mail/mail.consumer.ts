import type { Kysely } from 'kysely';
import type { EventMap } from '../../events/event-map.ts';
import type { DomainEvent } from '../../infra/bus/bus.ts';
import type { DB, EmailTokenPurpose } from '../../infra/db/schema.ts';
import type { Mailer } from '../../infra/mail/mailer.ts';
import type { Logger } from '../../logger.ts';
import { EmailTokensRepository, type EmailTokenSigner } from '../accounts/email-tokens.service.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { Consumer } from '../../events/consumer.ts';
import { resetMail, verifyMail, welcomeMail, type Rendered } from './templates.ts';

export interface MailLinks {
  /** Where users reach the API (PUBLIC_URL). */
  publicUrl: string;
  /** The app in front of kith (APP_URL), which has a /reset-password page. */
  appUrl: string | undefined;
}

type MailEvent =
  | { type: 'user.registered'; data: EventMap['user.registered'] }
  | { type: 'email.verification_requested'; data: EventMap['email.verification_requested'] }
  | { type: 'password_reset.requested'; data: EventMap['password_reset.requested'] };

function cause(event: MailEvent): { userId: string; tokenId: string; purpose: EmailTokenPurpose } {
  switch (event.type) {
    case 'user.registered':
      return {
        userId: event.data.user_id,
        tokenId: event.data.verification_token_id,
        purpose: 'verify_email',
      };
    case 'email.verification_requested':
      return { userId: event.data.user_id, tokenId: event.data.token_id, purpose: 'verify_email' };
    case 'password_reset.requested':
      return {
        userId: event.data.user_id,
        tokenId: event.data.token_id,
        purpose: 'reset_password',
      };
  }
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

  function compose(event: MailEvent, name: string, email: string, token: string): Rendered {
    if (event.type === 'password_reset.requested') {
      const url = links.appUrl
        ? `${under(links.appUrl, '/reset-password')}?token=${token}`
        : undefined;
      return resetMail(name, { url, token, confirmEndpoint: api('/auth/password-reset/confirm') });
    }
    const verifyUrl = `${api('/auth/verify-email')}?token=${token}`;
    return event.type === 'user.registered'
      ? welcomeMail(name, verifyUrl)
      : verifyMail(name, email, verifyUrl);
  }

  return {
    group: 'mail',
    types: ['user.registered', 'email.verification_requested', 'password_reset.requested'],
    handle: async (raw: DomainEvent) => {
      const event = raw as unknown as MailEvent;
      const sent = await db
        .selectFrom('mail_deliveries')
        .select('event_id')
        .where('event_id', '=', raw.id)
        .executeTakeFirst();
      if (sent) return;
      const { userId, tokenId, purpose } = cause(event);
      const [user, token] = await Promise.all([
        new UsersRepository(db).findById(userId),
        new EmailTokensRepository(db).find(tokenId, purpose),
      ]);
      if (!user || !token || token.used_at || token.expires_at.getTime() <= Date.now()) {
        log.info({ event_id: raw.id, type: raw.type }, 'mail not sent: account or link gone');
        return;
      }
      const message = compose(
        event,
        user.display_name,
        token.email,
        signer.sign(token.id, purpose),
      );
      await mailer.send({ to: token.email, ...message, messageId: `<${raw.id}@kith.mail>` });
      await db
        .insertInto('mail_deliveries')
        .values({ event_id: raw.id, kind: raw.type, recipient: token.email })
        .onConflict((oc) => oc.doNothing())
        .execute();
    },
  };
}
