import type { PGlite } from '@electric-sql/pglite';
import type { Config } from './config.ts';
import { migrateToLatest, openDatabase, type Database } from './infra/db/database.ts';
import { createLogger, type Logger } from './logger.ts';
import { AccessTokens } from './modules/accounts/access-tokens.ts';
import { AuthService } from './modules/accounts/auth.service.ts';
import { PasswordHasher } from './modules/accounts/passwords.ts';
import { UsersService } from './modules/accounts/users.service.ts';
import { CommentsService } from './modules/comments/comments.service.ts';
import { PostsService } from './modules/posts/posts.service.ts';
import { FriendsService } from './modules/social/friends.service.ts';
import { SocialService } from './modules/social/social.service.ts';

/** Everything a role needs, built once. Services never build their own dependencies. */
export interface Context {
  readonly config: Config;
  readonly log: Logger;
  readonly database: Database;
  readonly accessTokens: AccessTokens;
  readonly users: UsersService;
  readonly auth: AuthService;
  readonly social: SocialService;
  readonly friends: FriendsService;
  readonly posts: PostsService;
  readonly comments: CommentsService;
  /** Closes what the context opened, last to first. */
  close(): Promise<void>;
}

export interface ContextOverrides {
  /** An already-open PGlite (tests clone a migrated template). */
  pglite?: PGlite;
  log?: Logger;
  /** Apply migrations even when `config.migrateOnStart` is false. */
  migrate?: boolean;
}

/** The composition root: the only place that wires adapters to services. */
export async function createContext(
  config: Config,
  overrides: ContextOverrides = {},
): Promise<Context> {
  const log = overrides.log ?? createLogger(config.logLevel);
  const database = await openDatabase(
    { databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize },
    overrides.pglite,
  );
  try {
    if (overrides.migrate ?? config.migrateOnStart) {
      const applied = await migrateToLatest(database.db);
      if (applied.length > 0)
        log.info({ migrations: applied.map((m) => m.migrationName) }, 'migrations applied');
    }
  } catch (err) {
    await database.close();
    throw err;
  }
  const hasher = new PasswordHasher(config.bcryptCost);
  const accessTokens = new AccessTokens(config.jwtSecret, config.accessTokenTtl);
  const { db } = database;
  const users = new UsersService(db, hasher);
  return {
    config,
    log,
    database,
    accessTokens,
    users,
    auth: new AuthService(db, hasher, accessTokens, config.refreshTokenTtl),
    social: new SocialService(db, users),
    friends: new FriendsService(db, users),
    posts: new PostsService(db, users),
    comments: new CommentsService(db),
    close: () => database.close(),
  };
}
