import { LRUCache } from 'lru-cache';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { UnauthorizedError } from '../../errors.ts';
import type { Principal, TokenVerifier } from '../../http/auth.ts';

export type { Principal };

const ISSUER = 'kith';
const AUDIENCE = 'kith-api';
// User and session ids are UUIDs; anything else in a correctly signed token is refused as well.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Short-lived HS256 access tokens. Only HS256 is accepted, so `alg: none` never verifies. */
export class AccessTokens implements TokenVerifier {
  readonly #key: Uint8Array;
  readonly ttlSeconds: number;
  readonly #verified = new LRUCache<string, Principal>({ max: 10_000 });

  constructor(secret: string, ttlSeconds: number) {
    this.#key = new TextEncoder().encode(secret);
    this.ttlSeconds = ttlSeconds;
  }

  sign(principal: Principal): Promise<string> {
    return new SignJWT({ sid: principal.sessionId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(principal.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.#key);
  }

  /**
   * The principal of a valid token. A token seen before is answered from memory until it
   * expires: the same bytes always verify the same way, and checking an HMAC through WebCrypto
   * costs more than the rest of a cached feed read.
   */
  async verify(token: string): Promise<Principal> {
    const known = this.#verified.get(token);
    if (known && (known.expiresAt ?? 0) > Date.now()) return known;
    const principal = Object.freeze(await this.#verify(token));
    this.#verified.set(token, principal);
    return principal;
  }

  async #verify(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        // A token without an expiry would never expire.
        requiredClaims: ['exp', 'sub', 'sid'],
      });
      const { sub, sid } = payload;
      if (
        typeof sub !== 'string' ||
        typeof sid !== 'string' ||
        !UUID.test(sub) ||
        !UUID.test(sid)
      ) {
        throw new UnauthorizedError('invalid_token', 'The access token is not valid.');
      }
      return {
        userId: sub,
        sessionId: sid,
        ...(payload.exp === undefined ? {} : { expiresAt: payload.exp * 1000 }),
        ...(payload.iat === undefined ? {} : { issuedAt: payload.iat * 1000 }),
      };
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) {
        throw new UnauthorizedError('token_expired', 'The access token has expired.');
      }
      if (err instanceof UnauthorizedError) throw err;
      throw new UnauthorizedError('invalid_token', 'The access token is not valid.');
    }
  }
}
