import type { FeatureModule } from '../../app/feature.ts';
import { dsbRoutes } from './dsb.routes.ts';

/** DeathStarBench's social-network HTTP routes (`/wrk2-api/…`), on when DSB_COMPAT is set. */
export const dsbModule: FeatureModule = {
  name: 'dsb',
  routes: [dsbRoutes],
  prefix: '',
  enabled: (config) => config.dsbCompat,
};
