import type { FeatureModule } from '../../app/feature.ts';
import { friendsRoutes } from './friends.routes.ts';
import { socialRoutes } from './social.routes.ts';

/** Follows, friends and friend requests, blocks and mutes. */
export const socialModule: FeatureModule = {
  name: 'social',
  routes: [socialRoutes, friendsRoutes],
};
