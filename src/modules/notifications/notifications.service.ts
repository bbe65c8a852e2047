import type { Kysely } from 'kysely';
import { ValidationError } from '../../errors.ts';
import type { DB } from '../../infra/db/schema.ts';
import { NotificationsRepository, type NotificationType } from './notifications.repository.ts';

/** Reading and marking notifications (they are created by the notifications consumer). */
export class NotificationsService {
  readonly #repo: NotificationsRepository;

  constructor(db: Kysely<DB>) {
    this.#repo = new NotificationsRepository(db);
  }

  list(
    userId: string,
    type: NotificationType | undefined,
    after: { t: string; id: string } | undefined,
    limit: number,
  ) {
    return this.#repo.list(userId, { type, after, limit });
  }

  unreadCount(userId: string): Promise<number> {
    return this.#repo.unreadCount(userId);
  }

  /** Marks the given notifications (or all) read; ids of others' notifications change nothing. */
  async markRead(
    userId: string,
    body: { ids?: string[] | undefined; all?: boolean | undefined },
  ): Promise<{ marked: number; unread: number }> {
    if ((body.ids === undefined) === (body.all !== true)) {
      throw new ValidationError([
        { path: '', code: 'ids_or_all', message: 'send either "ids" or "all": true' },
      ]);
    }
    const marked = await this.#repo.markRead(userId, body.all ? undefined : body.ids);
    return { marked, unread: await this.#repo.unreadCount(userId) };
  }
}
