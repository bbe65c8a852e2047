import type { FeatureModule } from '../../app/feature.ts';
import { appsRoutes } from './apps.routes.ts';
import { authorizeRoutes } from './authorize.routes.ts';
import { tokenRoutes } from './token.routes.ts';

/**
 * OAuth 2 for Mastodon clients: app registration, the authorize page, tokens, revocation and
 * the server metadata. Routes carry their full paths (`/oauth/*`, `/api/v1/apps`).
 */
export const oauthModule: FeatureModule = {
  name: 'oauth',
  prefix: '',
  routes: [appsRoutes, tokenRoutes, authorizeRoutes],
  housekeeping: (ctx) => ctx.oauth.purgeExpiredCodes(),
};
