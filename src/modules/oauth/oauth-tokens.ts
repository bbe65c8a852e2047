import { createHash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { UnauthorizedError } from '../../errors.ts';
import type { Principal, TokenVerifier } from '../../http/auth.ts';
import type { EventBus, Subscription } from '../../infra/bus/bus.ts';
import type { Logger } from '../../logger.ts';
import type { OAuthRepository } from './oauth.repository.ts';

/** The broadcast that tells every API node to forget a revoked token. */
export const TOKEN_REVOKED_BROADCAST = 'oauth.token_revoked';

/**
 * How long a node trusts its memory of a token. Revocations reach every node through the
 * bus at once; this only bounds the damage of a broadcast lost without a reconnection.
 */
const REMEMBER_MS = 5 * 60_000;
/** How long a revocation waits for its broadcast to leave. */
const BROADCAST_WAIT_MS = 500;

/** SHA-256 of a secret, hex: how tokens, codes and client secrets are stored. */
export const hashSecret = (secret: string) => createHash('sha256').update(secret).digest('hex');

/** 32 random bytes, base64url without padding: a valid WebSocket subprotocol too. */
export const newSecret = () => randomBytes(32).toString('base64url');

/** OAuth tokens are opaque base64url strings; kith's own are JWTs (with dots). */
export const looksLikeOAuthToken = (token: string) => /^[A-Za-z0-9_-]{43}$/.test(token);

/**
 * Checks OAuth access tokens against the database, remembering each valid one on this node so
 * a request costs no query. A revocation drops the memory here and, through the bus
 * broadcast, on every other node.
 */
export class OAuthTokens implements TokenVerifier {
  readonly #repo: OAuthRepository;
  readonly #bus: EventBus;
  readonly #log: Logger;
  readonly #known = new LRUCache<string, Principal>({ max: 50_000, ttl: REMEMBER_MS });

  constructor(repo: OAuthRepository, bus: EventBus, log: Logger) {
    this.#repo = repo;
    this.#bus = bus;
    this.#log = log;
  }

  async verify(token: string): Promise<Principal> {
    const hash = hashSecret(token);
    const known = this.#known.get(hash);
    if (known) return known;
    const row = await this.#repo.findLiveToken(hash);
    if (!row) throw new UnauthorizedError('invalid_token', 'The access token is invalid.');
    const principal: Principal = Object.freeze({
      userId: row.user_id ?? '',
      sessionId: row.id,
      scopes: Object.freeze(row.scopes.split(' ')),
      appId: row.app_id,
      ...(row.user_id === null ? { appOnly: true } : {}),
    });
    this.#known.set(hash, principal);
    return principal;
  }

  /** Forgets the token here and tells every node to forget it (waiting briefly). */
  async forget(tokenHash: string): Promise<void> {
    this.#known.delete(tokenHash);
    const sent = this.#bus
      .broadcast({ type: TOKEN_REVOKED_BROADCAST, data: { hash: tokenHash } })
      .catch((err: unknown) => this.#log.warn({ err }, 'token revocation broadcast failed'));
    await Promise.race([
      sent,
      new Promise((resolve) => setTimeout(resolve, BROADCAST_WAIT_MS).unref()),
    ]);
  }

  /**
   * Listens for revocations from other nodes. After a lost connection, broadcasts may have
   * been missed: everything remembered is dropped and checked again.
   */
  listen(): Promise<Subscription> {
    return this.#bus.onBroadcast(
      (message) => {
        if (message.type !== TOKEN_REVOKED_BROADCAST) return;
        const { hash } = message.data as { hash?: unknown };
        if (typeof hash === 'string') this.#known.delete(hash);
      },
      () => this.#known.clear(),
    );
  }
}
