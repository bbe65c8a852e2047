import type { FastifyRequest } from 'fastify';
import type { App } from '../../http/types.ts';

/**
 * Where kith's own API and Mastodon's share a method and path (`GET /api/v1/notifications`),
 * the token decides: kith's login tokens are JWTs (three dot-separated parts) and reach kith's
 * route; any other bearer token (Mastodon apps hold opaque OAuth tokens) reaches Mastodon's.
 * `Kith-Flavour: mastodon` asks for Mastodon's with any token (scripts, tests). Anonymous
 * requests stay with kith's route (a 401 either way).
 */
export const FLAVOUR_HEADER = 'kith-flavour';
export const MASTODON_FLAVOUR = { apiFlavour: 'mastodon' };

function flavourOf(request: { headers: FastifyRequest['headers'] }): string {
  if (request.headers[FLAVOUR_HEADER] === 'mastodon') return 'mastodon';
  const match = /^Bearer +(\S+)/i.exec(request.headers.authorization ?? '');
  if (!match) return 'kith';
  return match[1]!.split('.').length === 3 ? 'kith' : 'mastodon';
}

/** Registers the `apiFlavour` route constraint (once per app). */
export function registerFlavour(app: App): void {
  if (app.hasConstraintStrategy('apiFlavour')) return;
  app.addConstraintStrategy({
    name: 'apiFlavour',
    storage() {
      const handlers = new Map<string, unknown>();
      return {
        get: (value: string) => (handlers.get(value) ?? null) as never,
        set: (value: string, handler: unknown) => void handlers.set(value, handler),
      };
    },
    deriveConstraint: (request) => flavourOf(request),
    mustMatchWhenDerived: false,
  });
}
