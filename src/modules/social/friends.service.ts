import type { Kysely } from 'kysely';
import { ConflictError, ForbiddenError, NotFoundError } from '../../errors.ts';
import { isUniqueViolation } from '../../infra/db/database.ts';
import type { DB, FriendRequestRow, UserRow } from '../../infra/db/schema.ts';
import { transaction } from '../../infra/db/transaction.ts';
import { newId } from '../../ids.ts';
import { UsersRepository } from '../accounts/users.repository.ts';
import type { UsersService } from '../accounts/users.service.ts';
import { GraphWriter } from './graph.ts';
import { blocked, notYourself } from './social.service.ts';
import { FriendRequestsRepository } from './friend-requests.repository.ts';
import { SocialRepository } from './social.repository.ts';
import { recordEvent } from '../../events/outbox.ts';
import type { RelationsCache } from './relations.cache.ts';

export interface FriendRequestView {
  request: FriendRequestRow;
  sender: UserRow;
  recipient: UserRow;
}

const requestEvent = (r: FriendRequestRow) => ({
  request_id: r.id,
  sender_id: r.sender_id,
  recipient_id: r.recipient_id,
});
const requestNotFound = () =>
  new NotFoundError('friend_request_not_found', 'No such friend request.');
const notPending = () =>
  new ConflictError('request_not_pending', 'That friend request has already been answered.');

/** Friend requests and friendships. Accepting makes both users follow each other. */
export class FriendsService {
  readonly #db: Kysely<DB>;
  readonly #users: UsersService;
  readonly #relations: RelationsCache;

  constructor(db: Kysely<DB>, users: UsersService, relations: RelationsCache) {
    this.#db = db;
    this.#users = users;
    this.#relations = relations;
  }

  /**
   * Sends a request, or accepts theirs when the other user already asked the viewer.
   * Returns the request as it now stands (`pending`, or `accepted`).
   */
  async send(viewerId: string, username: string): Promise<FriendRequestView> {
    const target = await this.#users.resolve(username);
    if (target.id === viewerId) throw notYourself('befriend');
    const request = await transaction(this.#db, async (trx) => {
      const social = new SocialRepository(trx);
      const requests = new FriendRequestsRepository(trx);
      await social.lockPair(viewerId, target.id);
      if (await social.blockedEitherWay(viewerId, target.id)) throw blocked();
      if (await social.areFriends(viewerId, target.id)) {
        throw new ConflictError('already_friends', 'You are already friends.');
      }
      if (await requests.findPendingRequest(viewerId, target.id)) {
        throw new ConflictError(
          'request_pending',
          'You have already sent a friend request to this user.',
        );
      }
      const theirs = await requests.findPendingRequest(target.id, viewerId);
      if (theirs) {
        const accepted = (await requests.respondToRequest(theirs.id, 'accepted'))!;
        await GraphWriter.run(trx, async (graph) => {
          await graph.befriend(viewerId, target.id);
          await recordEvent(trx, 'friend_request.accepted', requestEvent(accepted));
        });
        return accepted;
      }
      const created = await requests.createRequest(newId(), viewerId, target.id);
      await recordEvent(trx, 'friend_request.sent', requestEvent(created));
      return created;
    }).catch((err: unknown) => {
      // Two identical requests raced: the unique index let one through.
      if (isUniqueViolation(err, 'friend_requests_pending')) {
        throw new ConflictError(
          'request_pending',
          'You have already sent a friend request to this user.',
        );
      }
      throw err;
    });
    if (request.status === 'accepted') await this.#relations.changed(viewerId, target.id);
    return this.#view(request);
  }

  listPending(
    viewerId: string,
    direction: 'incoming' | 'outgoing',
    before: string | undefined,
    limit: number,
  ) {
    return new FriendRequestsRepository(this.#db).listPendingRequests(
      viewerId,
      direction,
      before,
      limit,
    );
  }

  /** Hydrates requests with both users, in one query for the whole list. */
  async views(requests: FriendRequestRow[]): Promise<FriendRequestView[]> {
    const ids = [...new Set(requests.flatMap((r) => [r.sender_id, r.recipient_id]))];
    const users = new Map(
      (await new UsersRepository(this.#db).findManyByIds(ids)).map((u) => [u.id, u]),
    );
    return requests.map((request) => ({
      request,
      sender: users.get(request.sender_id)!,
      recipient: users.get(request.recipient_id)!,
    }));
  }

  async accept(viewerId: string, requestId: string): Promise<FriendRequestView> {
    return this.#answer(viewerId, requestId, 'accepted');
  }

  async decline(viewerId: string, requestId: string): Promise<FriendRequestView> {
    return this.#answer(viewerId, requestId, 'declined');
  }

  /** The sender withdraws a pending request. */
  async cancel(viewerId: string, requestId: string): Promise<void> {
    await transaction(this.#db, async (trx) => {
      const requests = new FriendRequestsRepository(trx);
      const request = await requests.findRequest(requestId, true);
      if (!request || (request.sender_id !== viewerId && request.recipient_id !== viewerId))
        throw requestNotFound();
      if (request.sender_id !== viewerId) {
        throw new ForbiddenError(
          'not_sender',
          'Only the sender can cancel a friend request; decline it instead.',
        );
      }
      if (!(await requests.respondToRequest(request.id, 'cancelled'))) throw notPending();
    });
  }

  async unfriend(viewerId: string, username: string): Promise<void> {
    const other = await this.#users.resolve(username);
    if (other.id === viewerId) throw notYourself('unfriend');
    const removed = await transaction(this.#db, async (trx) => {
      await new SocialRepository(trx).lockPair(viewerId, other.id);
      return GraphWriter.run(trx, (graph) => graph.unfriend(viewerId, other.id));
    });
    await this.#relations.changed(viewerId, other.id);
    if (!removed)
      throw new NotFoundError('not_friends', `You are not friends with "${other.username}".`);
  }

  async #answer(
    viewerId: string,
    requestId: string,
    status: 'accepted' | 'declined',
  ): Promise<FriendRequestView> {
    const request = await transaction(this.#db, async (trx) => {
      const social = new SocialRepository(trx);
      const requests = new FriendRequestsRepository(trx);
      const found = await requests.findRequest(requestId);
      // Only the two people involved learn that a request exists.
      if (!found || (found.sender_id !== viewerId && found.recipient_id !== viewerId))
        throw requestNotFound();
      if (found.recipient_id !== viewerId) {
        throw new ForbiddenError(
          'not_recipient',
          'Only the recipient can answer a friend request.',
        );
      }
      await social.lockPair(found.sender_id, viewerId);
      const answered = await requests.respondToRequest(found.id, status);
      if (!answered) throw notPending();
      if (status === 'accepted') {
        if (await social.blockedEitherWay(found.sender_id, viewerId)) throw blocked();
        await GraphWriter.run(trx, async (graph) => {
          await graph.befriend(found.sender_id, viewerId);
          await recordEvent(trx, 'friend_request.accepted', requestEvent(answered));
        });
      }
      return answered;
    });
    if (status === 'accepted') await this.#relations.changed(request.sender_id, viewerId);
    return this.#view(request);
  }

  async #view(request: FriendRequestRow): Promise<FriendRequestView> {
    const [view] = await this.views([request]);
    return view!;
  }
}
