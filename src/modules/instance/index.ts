import type { FeatureModule } from '../../app/feature.ts';
import { instanceRoutes } from './instance.routes.ts';

/** Discovery for Mastodon clients and the fediverse: instance documents and NodeInfo. */
export const instanceModule: FeatureModule = {
  name: 'instance',
  prefix: '',
  routes: [instanceRoutes],
};
