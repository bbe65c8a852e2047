import type { Kysely } from 'kysely';
import { applyOnce } from '../../events/apply-once.ts';
import { defineConsumer, type Consumer } from '../../events/consumer.ts';
import type { DB } from '../../infra/db/schema.ts';
import type { Mailer } from '../../infra/mail/mailer.ts';
import type { Logger } from '../../logger.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import { MailRepository } from '../mail/mail.repository.ts';
import type { StreamPublisher } from '../realtime/publisher.service.ts';
import { StreamLog, type Delivery } from '../realtime/stream-log.repository.ts';
import { MAILED_ACTIONS, moderationMail } from './moderation-mail.ts';
import { ModerationRepository } from './moderation.repository.ts';

/**
 * Tells a user what a moderator did to their account, with the reason: a `moderation` event on
 * their stream (applied once per event) and a mail (sent once per event, recorded like every
 * other mail). A suspended user's streams are closed, so for them the mail is what arrives.
 */
export function moderationConsumer(
  db: Kysely<DB>,
  publisher: StreamPublisher,
  mailer: Mailer,
  log: Logger,
): Consumer {
  const mails = new MailRepository(db);
  return defineConsumer('moderation', {
    'moderation.action_taken': async (d, event) => {
      const [entry, user] = await Promise.all([
        new ModerationRepository(db).findAudit(d.audit_id),
        new UsersRepository(db).findById(d.user_id),
      ]);
      if (!entry || !user || !MAILED_ACTIONS.has(entry.action)) {
        log.info({ event_id: event.id }, 'moderation notice not sent: nothing to tell');
        return;
      }
      const notice = { action: entry.action, reason: entry.reason, at: entry.created_at };
      const deliveries: Delivery[] = [];
      await applyOnce(db, 'moderation', event.id, async (trx) => {
        deliveries.splice(
          0,
          deliveries.length,
          ...(await new StreamLog(trx).append([
            { userId: user.id, type: 'moderation', data: notice },
          ])),
        );
      });
      await publisher.publish(deliveries);
      if (await mails.wasSent(event.id)) return;
      const mail = moderationMail(user.display_name, entry.action, entry.reason);
      await mailer.send({ to: user.email, ...mail, messageId: `<${event.id}@kith.mail>` });
      await mails.recordSent(event.id, event.type, user.email);
    },
  });
}
