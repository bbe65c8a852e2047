import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { UnauthorizedError } from '../../errors.ts';

const ISSUER = 'kith';
const AUDIENCE = 'kith-api';

/** Who a verified access token speaks for: the user and the login session (token family). */
export interface Principal {
  userId: string;
  sessionId: string;
  /** When the token expires, in ms since the epoch (streams close then). */
  expiresAt?: number;
}

/** Short-lived HS256 access tokens. Only HS256 is accepted, so `alg: none` never verifies. */
export class AccessTokens {
  readonly #key: Uint8Array;
  readonly ttlSeconds: number;

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

  async verify(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
      });
      if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') {
        throw new UnauthorizedError('invalid_token', 'The access token is not valid.');
      }
      return {
        userId: payload.sub,
        sessionId: payload.sid,
        ...(payload.exp === undefined ? {} : { expiresAt: payload.exp * 1000 }),
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
