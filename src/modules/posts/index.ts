import type { FeatureModule } from '../../app/feature.ts';
import { postsRoutes } from './posts.routes.ts';

/** Posts, their edit history and likes, and profile feeds. */
export const postsModule: FeatureModule = { name: 'posts', routes: [postsRoutes] };
