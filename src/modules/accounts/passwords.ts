import bcrypt from 'bcrypt';
import { ValidationError } from '../../errors.ts';

/** bcrypt only reads 72 bytes; longer passwords are refused rather than silently truncated. */
export const PASSWORD_MAX_BYTES = 72;
export const PASSWORD_MIN_CHARS = 8;

/**
 * Hashes and checks passwords with bcrypt. bcrypt's async API runs on libuv's thread pool, so
 * hashing never blocks the event loop.
 */
export class PasswordHasher {
  readonly #cost: number;
  /** Compared against when the account does not exist, so both failures take the same time. */
  readonly #dummy: Promise<string>;

  constructor(cost: number) {
    this.#cost = cost;
    this.#dummy = bcrypt.hash('kith-dummy-password', cost);
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.#cost);
  }

  /** False for a password longer than bcrypt reads: it can never be the one that was set. */
  async verify(password: string, hash: string | undefined): Promise<boolean> {
    const acceptable = Buffer.byteLength(password, 'utf8') <= PASSWORD_MAX_BYTES;
    const ok = await bcrypt.compare(acceptable ? password : '', hash ?? (await this.#dummy));
    return ok && acceptable && hash !== undefined;
  }
}

/** Throws a 400 naming `path` when the password breaks a rule bcrypt or policy imposes. */
export function assertPasswordAcceptable(password: string, path: string): void {
  if ([...password].length < PASSWORD_MIN_CHARS) {
    throw new ValidationError([
      { path, code: 'too_short', message: `must be at least ${PASSWORD_MIN_CHARS} characters` },
    ]);
  }
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) {
    throw new ValidationError([
      { path, code: 'too_long', message: `must be at most ${PASSWORD_MAX_BYTES} bytes in UTF-8` },
    ]);
  }
}
