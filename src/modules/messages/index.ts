import type { FeatureModule } from '../../app/feature.ts';
import { messagesRoutes } from './messages.routes.ts';

/** Direct messages between friends. */
export const messagesModule: FeatureModule = { name: 'messages', routes: [messagesRoutes] };
