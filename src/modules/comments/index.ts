import type { FeatureModule } from '../../app/feature.ts';
import { commentsRoutes } from './comments.routes.ts';

/** Comments on posts. */
export const commentsModule: FeatureModule = { name: 'comments', routes: [commentsRoutes] };
