import type { FeatureModule } from '../../app/feature.ts';
import { authRoutes } from './auth.routes.ts';
import { emailRoutes } from './email.routes.ts';
import { EmailTokensRepository } from './email-tokens.repository.ts';
import { usersRoutes } from './users.routes.ts';

/** Registration, login and sessions, profiles, e-mail verification and password reset. */
export const accountsModule: FeatureModule = {
  name: 'accounts',
  routes: [authRoutes, usersRoutes, emailRoutes],
  housekeeping: (ctx) => new EmailTokensRepository(ctx.database.db).purgeExpired(),
};
