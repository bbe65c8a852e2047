import type { Kysely } from 'kysely';
import type { DB } from '../../infra/db/schema.ts';

/** Which events' mails were sent (`mail_deliveries`), so a redelivered event sends nothing. */
export class MailRepository {
  readonly #db: Kysely<DB>;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  async wasSent(eventId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('mail_deliveries')
      .select('event_id')
      .where('event_id', '=', eventId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async recordSent(eventId: string, kind: string, recipient: string): Promise<void> {
    await this.#db
      .insertInto('mail_deliveries')
      .values({ event_id: eventId, kind, recipient })
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}
