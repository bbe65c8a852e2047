import type { Kysely } from 'kysely';
import { AppError, ConflictError, ForbiddenError } from '../../errors.ts';
import type { DB } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { UserRef, UsersService } from '../accounts/users.service.ts';
import { GraphWriter } from './graph.ts';
import { recordEvent } from '../../events/outbox.ts';
import type { RelationsCache } from './relations.cache.ts';
import { SocialRepository, type Relationship, type TimeCursor } from './social.repository.ts';
import { normalizeUsername } from '../../text.ts';

export interface GraphChange {
  user: UserRef;
  /** False when the request repeated the current state and nothing changed. */
  changed: boolean;
}

export const notYourself = (action: string) =>
  new AppError(400, 'cannot_target_self', `You cannot ${action} yourself.`);
export const blocked = () => new ForbiddenError('blocked', 'One of you has blocked the other.');

/** Follows, blocks, mutes, relationship look-ups and graph lists. */
export class SocialService {
  readonly #db: Kysely<DB>;
  readonly #users: UsersService;
  readonly #relations: RelationsCache;

  constructor(db: Kysely<DB>, users: UsersService, relations: RelationsCache) {
    this.#db = db;
    this.#users = users;
    this.#relations = relations;
  }

  /** Every graph change ends here, after its transaction committed. */
  async #done(viewerId: string, user: UserRef, changed: boolean): Promise<GraphChange> {
    if (changed) await this.#relations.changed(viewerId, user.id);
    return { user, changed };
  }

  async #target(viewerId: string, username: string, action: string): Promise<UserRef> {
    const user = await this.#users.resolve(username);
    if (user.id === viewerId) throw notYourself(action);
    return user;
  }

  async follow(viewerId: string, username: string): Promise<GraphChange> {
    const user = await this.#target(viewerId, username, 'follow');
    // Already following (so neither blocks the other): true as of this read, nothing to lock.
    // Repeats are what a burst of retries or double taps is made of.
    if (await new SocialRepository(this.#db).isFollowing(viewerId, user.id))
      return this.#done(viewerId, user, false);
    const changed = await transaction(this.#db, async (trx) => {
      const social = new SocialRepository(trx);
      await social.lockPair(viewerId, user.id);
      if (await social.blockedEitherWay(viewerId, user.id)) throw blocked();
      return GraphWriter.run(trx, (graph) => graph.follow(viewerId, user.id));
    });
    return this.#done(viewerId, user, changed);
  }

  async unfollow(viewerId: string, username: string): Promise<GraphChange> {
    const user = await this.#target(viewerId, username, 'unfollow');
    // Not following (so not friends either: friends follow each other): nothing to lock.
    if (!(await new SocialRepository(this.#db).isFollowing(viewerId, user.id)))
      return this.#done(viewerId, user, false);
    const changed = await transaction(this.#db, async (trx) => {
      const social = new SocialRepository(trx);
      await social.lockPair(viewerId, user.id);
      if (await social.areFriends(viewerId, user.id)) {
        throw new ConflictError(
          'friends_follow_each_other',
          'Friends follow each other; unfriend instead.',
        );
      }
      return GraphWriter.run(trx, (graph) => graph.unfollow(viewerId, user.id));
    });
    return this.#done(viewerId, user, changed);
  }

  /** Blocking severs every tie (follows both ways, friendship, pending requests). */
  async block(viewerId: string, username: string): Promise<GraphChange> {
    const user = await this.#target(viewerId, username, 'block');
    const changed = await transaction(this.#db, async (trx) => {
      const social = new SocialRepository(trx);
      await social.lockPair(viewerId, user.id);
      return GraphWriter.run(trx, async (graph) => {
        const created = await social.addEdge('blocks', viewerId, user.id);
        if (created) {
          await graph.severAll(viewerId, user.id);
          await recordEvent(trx, 'block.created', { blocker_id: viewerId, blocked_id: user.id });
        }
        return created;
      });
    });
    return this.#done(viewerId, user, changed);
  }

  async unblock(viewerId: string, username: string): Promise<GraphChange> {
    const user = await this.#target(viewerId, username, 'unblock');
    const changed = await new SocialRepository(this.#db).removeEdge('blocks', viewerId, user.id);
    return this.#done(viewerId, user, changed);
  }

  async mute(viewerId: string, username: string): Promise<GraphChange> {
    const user = await this.#target(viewerId, username, 'mute');
    const changed = await new SocialRepository(this.#db).addEdge('mutes', viewerId, user.id);
    return this.#done(viewerId, user, changed);
  }

  async unmute(viewerId: string, username: string): Promise<GraphChange> {
    const user = await this.#target(viewerId, username, 'unmute');
    const changed = await new SocialRepository(this.#db).removeEdge('mutes', viewerId, user.id);
    return this.#done(viewerId, user, changed);
  }

  /** The viewer's relationship with each named user that exists (unknown names are left out). */
  async relationships(
    viewerId: string,
    usernames: string[],
  ): Promise<(Relationship & { username: string })[]> {
    const wanted = [...new Set(usernames.map(normalizeUsername))];
    const users = await new UsersRepository(this.#db).findManyByUsernames(wanted);
    const byId = new Map(users.map((u) => [u.id, u.username]));
    const rels = await new SocialRepository(this.#db).relationships(viewerId, [...byId.keys()]);
    const byName = new Map(rels.map((r) => [byId.get(r.user_id)!, r]));
    return wanted.flatMap((name) => {
      const rel = byName.get(name);
      return rel ? [{ ...rel, username: name }] : [];
    });
  }

  /**
   * A user's followers, following or friends as the viewer may see them: without the users in
   * a block with the viewer; the whole list is not found when the owner is.
   */
  async list(
    viewerId: string | null,
    kind: 'followers' | 'following' | 'friends',
    username: string,
    after: TimeCursor | undefined,
    limit: number,
  ) {
    const user = await this.#users.resolveVisible(username, viewerId);
    return new SocialRepository(this.#db).listEdgeUsers(kind, user.id, viewerId, after, limit);
  }

  /** The users the viewer blocked or muted, newest first. */
  listOwn(
    kind: 'blocks' | 'mutes',
    viewerId: string,
    after: TimeCursor | undefined,
    limit: number,
  ) {
    return new SocialRepository(this.#db).listEdgeUsers(kind, viewerId, viewerId, after, limit);
  }

  suggestions(viewerId: string, after: { m: number; u: string } | undefined, limit: number) {
    return new SocialRepository(this.#db).suggestions(viewerId, after, limit);
  }
}
