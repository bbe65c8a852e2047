import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../errors.ts';
import type { EmailTokenPurpose } from '../../infra/db/schema.ts';

export const TOKEN_TTL_SECONDS: Record<EmailTokenPurpose, number> = {
  verify_email: 24 * 3600,
  reset_password: 3600,
};

export const linkInvalid = () =>
  new AppError(400, 'link_invalid', 'This link is not valid; ask for a new one.');
export const linkExpired = () =>
  new AppError(400, 'link_expired', 'This link has expired; ask for a new one.');
export const linkUsed = () => new AppError(400, 'link_used', 'This link has already been used.');

/**
 * Mailed tokens are `<row id>.<HMAC-SHA256 of purpose and id>`: signed, so a tampered or made-up
 * token is refused before any look-up, and backed by a row, so each is single-use and expires.
 * The table stores no secret: the signature is recomputed from the id when the mail is sent.
 */
export class EmailTokenSigner {
  readonly #key: Buffer;

  constructor(secret: string) {
    // A key of its own, derived from the application secret (access tokens use the secret itself).
    this.#key = createHmac('sha256', secret).update('kith email tokens v1').digest();
  }

  sign(id: string, purpose: EmailTokenPurpose): string {
    return `${id}.${this.#mac(id, purpose).toString('base64url')}`;
  }

  /** The row id inside a correctly signed token for `purpose`; 400 `link_invalid` otherwise. */
  open(token: string, purpose: EmailTokenPurpose): string {
    const [id, mac, extra] = token.trim().split('.');
    if (!id || !mac || extra !== undefined || !/^[0-9a-f-]{36}$/.test(id)) throw linkInvalid();
    const expected = this.#mac(id, purpose);
    const given = Buffer.from(mac, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw linkInvalid();
    return id;
  }

  #mac(id: string, purpose: EmailTokenPurpose): Buffer {
    return createHmac('sha256', this.#key).update(`${purpose}:${id}`).digest();
  }
}
