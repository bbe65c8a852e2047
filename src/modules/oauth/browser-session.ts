import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The signed-in browser on the authorize page: `<userId>.<expiry ms>.<signature>`. */
export const SESSION_COOKIE = 'kith_oauth_session';
/** A random value; the form carries its HMAC, so a page of another site cannot post it. */
export const CSRF_COOKIE = 'kith_oauth_csrf';
/** A sign-in on the authorize page lasts this long: enough to approve a few apps. */
const SESSION_TTL_MS = 60 * 60_000;

/** The cookies of a request, by name (the first of a repeated name wins). */
export function cookiesOf(request: FastifyRequest): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

const same = (a: string, b: string) =>
  a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Cookies of the authorize page: a short sign-in (so a second app needs no password again,
 * unless it asks `force_login`) and the CSRF token, both bound to the server's secret.
 */
export class BrowserSessions {
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  #sign(purpose: string, value: string): string {
    return createHmac('sha256', this.#secret).update(`${purpose}\n${value}`).digest('base64url');
  }

  #cookie(request: FastifyRequest, name: string, value: string, maxAgeSeconds: number): string {
    const secure = request.protocol === 'https' ? '; Secure' : '';
    return `${name}=${value}; Path=/oauth; HttpOnly; SameSite=Lax; Max-Age=${maxAgeSeconds}${secure}`;
  }

  /** The signed-in user, if the browser holds a valid, unexpired sign-in. */
  userOf(request: FastifyRequest): string | undefined {
    const [userId, expires, signature] = (cookiesOf(request).get(SESSION_COOKIE) ?? '').split('.');
    if (!userId || !expires || !signature) return undefined;
    if (!same(signature, this.#sign('session', `${userId}.${expires}`))) return undefined;
    return Number(expires) > Date.now() ? userId : undefined;
  }

  signIn(request: FastifyRequest, reply: FastifyReply, userId: string): void {
    const value = `${userId}.${Date.now() + SESSION_TTL_MS}`;
    const cookie = `${value}.${this.#sign('session', value)}`;
    this.#append(reply, this.#cookie(request, SESSION_COOKIE, cookie, SESSION_TTL_MS / 1000));
  }

  /** The CSRF token for the forms of this page, setting the cookie it is bound to if needed. */
  csrfToken(request: FastifyRequest, reply: FastifyReply): string {
    let value = cookiesOf(request).get(CSRF_COOKIE);
    if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
      value = randomBytes(32).toString('base64url');
      this.#append(reply, this.#cookie(request, CSRF_COOKIE, value, 24 * 3600));
    }
    return this.#sign('csrf', value);
  }

  /** Whether a posted form carries the token bound to this browser's CSRF cookie. */
  csrfValid(request: FastifyRequest, token: unknown): boolean {
    const value = cookiesOf(request).get(CSRF_COOKIE);
    return Boolean(value) && typeof token === 'string' && same(token, this.#sign('csrf', value!));
  }

  #append(reply: FastifyReply, cookie: string): void {
    const existing = reply.getHeader('set-cookie');
    const list = existing === undefined ? [] : [existing].flat().map(String);
    void reply.header('set-cookie', [...list, cookie]);
  }
}
