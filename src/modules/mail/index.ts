import type { FeatureModule } from '../../app/feature.ts';
import { mailConsumer } from './mail.consumer.ts';

/** Outgoing mail (welcome, verification, password reset), sent by a consumer. */
export const mailModule: FeatureModule = {
  name: 'mail',
  consumers: (ctx) => [
    mailConsumer(ctx.database.db, ctx.mailer, ctx.emailTokens, ctx.mailLinks, ctx.log),
  ],
};
