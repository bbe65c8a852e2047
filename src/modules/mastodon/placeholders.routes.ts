import { NotFoundError } from '../../errors.ts';
import type { App } from '../../http/types.ts';

/**
 * What web clients call on login for features kith does not have (lists, filters, emojis,
 * trending posts and links, bookmarks, scheduled posts): an empty answer of the right shape, so
 * they render instead of failing.
 */
const EMPTY_LISTS = [
  '/v1/lists',
  '/v1/filters',
  '/v2/filters',
  '/v1/custom_emojis',
  '/v1/announcements',
  '/v1/trends/statuses',
  '/v1/trends/links',
  '/v1/bookmarks',
  '/v1/scheduled_statuses',
  '/v1/accounts/:id/lists',
];

/** The posting defaults kith applies (Mastodon's preference keys). */
const PREFERENCES = {
  'posting:default:visibility': 'public',
  'posting:default:sensitive': false,
  'posting:default:language': null,
  'reading:expand:media': 'default',
  'reading:expand:spoilers': false,
};

export function mastodonPlaceholderRoutes() {
  return async (app: App) => {
    const auth = { auth: 'required' as const, scope: 'read' };
    for (const url of EMPTY_LISTS) app.get(url, { config: auth }, async () => []);
    app.get(
      '/v1/preferences',
      { config: { auth: 'required', scope: 'read:accounts' } },
      async () => PREFERENCES,
    );
    // Elk probes Web Push and expects a 404 when the server has none.
    app.get('/v1/push/subscription', { config: { auth: 'required', scope: 'push' } }, async () => {
      throw new NotFoundError('push_unsupported', 'Record not found');
    });
  };
}
